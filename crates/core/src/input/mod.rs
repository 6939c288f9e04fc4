//! Remote control: pointer, buttons, wheel and keys injected into an X display through the
//! XTEST extension. `keysym` and `keymap` are the pure decisions (which keysym a key name or a
//! character is, which keycode and Shift state produce it); `xtest` talks to the server.

pub mod keymap;
pub mod keysym;
pub mod xtest;

pub use keymap::{Keymap, Plan};
pub use keysym::{keysym_by_name, keysym_for_char};
pub use xtest::{Held, InputInjector};

/// What can go wrong injecting input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open X display {display}: {reason}")]
    Open { display: String, reason: String },
    #[error("X display {display} has no XTEST extension, which input injection needs (Xorg and Xvfb have it unless started with -extension XTEST)")]
    NoXtest { display: String },
    #[error("X connection lost: {0}")]
    Lost(String),
    #[error("X error: {0}")]
    Protocol(String),
    #[error(
        "no spare keycode to type keysym 0x{keysym:x}: every keycode has keysyms or is held down"
    )]
    NoSpareKeycode { keysym: u32 },
    #[error("no keycode sets the Shift modifier, so keysym 0x{keysym:x} (at the Shift level) cannot be typed")]
    NoShift { keysym: u32 },
}
