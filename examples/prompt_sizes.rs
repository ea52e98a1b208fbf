//! Prompt size over the corpus of real alerts (`tests/fixtures/alerts/corpus/`): the median and
//! the largest user prompt in characters, and tokens estimated at 4 characters each. Evidence
//! is built without lookups: the investigation adds its lines (a few hundred characters) on top.
//!
//! Run: `cargo run --release --example prompt_sizes`

use ai_analyzer::analyze::prompt;
use ai_analyzer::config::Settings;
use ai_analyzer::intake::alert::Alert;
use ai_analyzer::investigate::Evidence;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alerts/corpus");
    let settings = Settings::default();
    let mut sizes = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("expect.json"))
        .collect();
    names.sort();
    for path in &names {
        let alert = Alert::new(serde_json::from_str(&std::fs::read_to_string(path)?)?);
        let evidence = Evidence::local(&alert, &settings.investigation());
        let p = prompt::build(&alert, &evidence, &settings, "0123456789abcdef");
        let chars = p.user.chars().count() + p.system.chars().count();
        sizes.push((
            chars,
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        ));
    }
    sizes.sort();
    let n = sizes.len();
    let median = if n % 2 == 1 {
        sizes[n / 2].0
    } else {
        (sizes[n / 2 - 1].0 + sizes[n / 2].0) / 2
    };
    let (max, max_name) = sizes.last().cloned().unwrap_or_default();
    println!("{n} alerts; prompt (system + user) in characters:");
    println!("  median {median} (~{} tokens)", median / 4);
    println!("  max    {max} (~{} tokens), {max_name}", max / 4);
    println!("  min    {} (~{} tokens)", sizes[0].0, sizes[0].0 / 4);
    Ok(())
}
