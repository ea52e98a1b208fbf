//! `ai-analyzer prompt`: the exact prompt that would go to the LLM, with the lookups a run makes.

use super::{print_stdout, read_input, runtime};
use crate::config::Settings;
use crate::intake::alert::Command as ArCommand;
use crate::util::error::{InputError, EXIT_OK};

pub(crate) fn run(
    settings: &Settings,
    file: Option<&std::path::Path>,
    show_mapping: bool,
) -> anyhow::Result<u8> {
    let incoming = read_input(settings, file)?;
    if incoming.command == ArCommand::Delete {
        return Err(
            InputError::NotAlert("a delete command carries no alert to analyse".into()).into(),
        );
    }
    // The exact prompt: with the same lookups a run would make (answered from the cache when fresh).
    let evidence = runtime()?.block_on(crate::investigate::investigate(
        &incoming.alert,
        &settings.investigation(),
    ));
    // Pseudonymised when a run would pseudonymise it.
    let (prompt, mapping) = crate::analyze::prompt_for(&incoming.alert, &evidence, settings);
    print_stdout(&prompt.render())?;
    if show_mapping {
        let table = match &mapping {
            Some(m) if !m.is_empty() => m.table(),
            Some(_) => "(nothing to pseudonymise in this prompt)".to_string(),
            None => "(not pseudonymised: llm.pseudonymize is \"never\", or \"auto\" with a model \
                     server on this network)"
                .to_string(),
        };
        print_stdout(&format!(
            "=== mapping (shown here only; never stored) ===\n{table}"
        ))?;
    }
    Ok(EXIT_OK)
}
