//! Why a hardware encoder could not be used, named by backend (`nvenc: ...`, `vaapi: ...`).
//! A leaf: the backends and the facade all use it, it uses none of them.

use crate::encode::{EncodeError, EncoderKind};

/// A hardware backend, named in its error messages.
pub trait Backend {
    const KIND: EncoderKind;
}

/// Why a hardware encoder could not be used: the step that failed (`load`, `cuInit`,
/// `vaInitialize`, ...) and a message for people, shown as `<backend>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError<B: Backend> {
    step: &'static str,
    message: String,
    backend: std::marker::PhantomData<B>,
}

impl<B: Backend> StepError<B> {
    pub(crate) fn new(step: &'static str, message: impl Into<String>) -> Self {
        Self {
            step,
            message: message.into(),
            backend: std::marker::PhantomData,
        }
    }

    /// The API call (or `load` / `config` / `device` / `profile`) that failed.
    pub fn step(&self) -> &'static str {
        self.step
    }
}

impl<B: Backend> std::fmt::Display for StepError<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", B::KIND, self.message)
    }
}

impl<B: Backend + std::fmt::Debug> std::error::Error for StepError<B> {}

impl<B: Backend> From<StepError<B>> for EncodeError {
    fn from(e: StepError<B>) -> Self {
        EncodeError::H264(e.to_string())
    }
}
