//! Analysis: the prompt, the LLM, the checks on its answer and the report without AI.

pub mod guard;
pub mod ollama;
pub mod prompt;
pub mod report;
