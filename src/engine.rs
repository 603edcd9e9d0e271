//! The fetch engine.
use crate::exit::{Classify, Exit};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Busy(String),
}

impl Classify for EngineError {
    fn exit(&self) -> Exit {
        Exit::TempFail
    }
}
