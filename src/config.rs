//! Validated configuration: turns the command line into an [`Account`] the engine can run.
use crate::exit::{Classify, Exit};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

impl Classify for ConfigError {
    fn exit(&self) -> Exit {
        Exit::Config
    }
}
