//! `ai-analyzer prompt`: the exact prompt that would go to the LLM, with the lookups a run makes.

use super::{print_stdout, read_input, runtime};
use crate::analyze::prompt;
use crate::config::Settings;
use crate::intake::alert::Command as ArCommand;
use crate::util::error::{InputError, EXIT_OK};

pub(crate) fn run(settings: &Settings, file: Option<&std::path::Path>) -> anyhow::Result<u8> {
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
    let prompt = prompt::build(&incoming.alert, &evidence, settings, &prompt::new_nonce());
    print_stdout(&prompt.render())?;
    Ok(EXIT_OK)
}
