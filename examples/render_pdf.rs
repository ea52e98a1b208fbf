//! Renders the PDF report for one alert, as the worker would with the model down (the report
//! without AI; evidence built without lookups), and measures it: render time over several runs
//! and the process's peak memory. Writes the PDF for a look or for the screenshot in `docs/img/`.
//!
//! Run: `cargo run --release --example render_pdf -- ALERT.json [OUT.pdf] [RUNS]`
//! (figures in docs/benchmarks.md).

use std::time::Instant;

#[path = "shared/offline.rs"]
mod offline;

use ai_analyzer::deliver::pdf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: render_pdf ALERT.json [OUT.pdf] [RUNS]")?;
    let out = args.next().unwrap_or_else(|| "report.pdf".into());
    let runs: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(20);
    let offline = offline::Offline::from_file(&path)?;
    let d = offline.delivery();
    let mut times = Vec::new();
    let mut bytes = Vec::new();
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        bytes = pdf::render(&d, chrono::Utc::now())?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    std::fs::write(&out, &bytes)?;
    times.sort_by(f64::total_cmp);
    let peak_kib = {
        // SAFETY: getrusage fills the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        usage.ru_maxrss
    };
    println!(
        "{path}: {} runs, render median {:.1} ms (min {:.1}, max {:.1}); {} bytes; peak RSS {:.1} MiB; written to {out}",
        times.len(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        bytes.len(),
        peak_kib as f64 / 1024.0
    );
    Ok(())
}
