//! The X CLIPBOARD selection as UTF-8 text: a connection of its own and a hidden window, on a
//! thread that owns both. Writing makes us the selection owner (with a server timestamp, as
//! ICCCM asks) and the thread answers other clients' requests until one of them takes the
//! selection; reading converts the selection to our window, INCR transfers included. Both are
//! held to `max_bytes` of UTF-8.

mod plan;
mod worker;

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

pub use plan::{check_max_bytes, DEFAULT_MAX_BYTES, INCR_CHUNK, LIMIT_MAX_BYTES};

/// How long `write` waits for the server to make us the owner (one round trip normally).
const WRITE_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ClipboardError {
    #[error("cannot open X display {display}: {reason}")]
    Open { display: String, reason: String },
    /// Text to write over the limit.
    #[error("text is {bytes} bytes of UTF-8, over maxBytes ({max_bytes})")]
    WriteTooLarge { bytes: usize, max_bytes: usize },
    /// The selection holds more than the limit.
    #[error("the clipboard holds more than maxBytes ({max_bytes}) bytes (at least {at_least}); raise maxBytes to read it")]
    ReadTooLarge { at_least: usize, max_bytes: usize },
    #[error("the owner of CLIPBOARD did not answer within {0} ms")]
    Timeout(u64),
    #[error("the clipboard is closed")]
    Closed,
    #[error("the X server did not make us the owner of CLIPBOARD")]
    NotOwner,
    #[error("X connection lost: {0}")]
    Lost(String),
}

/// What a read ends with: the text, `None` when nobody owns the selection or it holds no text.
pub type ReadResult = Result<Option<String>, ClipboardError>;
/// Called once with the outcome of a read, on the clipboard's thread or the caller's.
pub type ReadDone = Box<dyn FnOnce(ReadResult) + Send>;

/// A read's answer, given exactly once. Dropped unanswered (a command that raced with the end
/// of the thread and was dropped with the channel), it answers that the thread has ended, so
/// no caller waits for ever.
struct Reply(Option<ReadDone>);

impl Reply {
    fn send(mut self, result: ReadResult) {
        if let Some(done) = self.0.take() {
            done(result);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            done(Err(ClipboardError::Lost(
                "the clipboard thread has ended".into(),
            )));
        }
    }
}

/// Answers a write: whether we became the owner.
type WriteDone = mpsc::Sender<Result<(), ClipboardError>>;

enum Command {
    Write {
        text: Arc<str>,
        done: WriteDone,
    },
    Read {
        deadline: Instant,
        timeout: Duration,
        done: Reply,
    },
    Close,
}

/// The CLIPBOARD selection of one X display. Dropping it closes it.
pub struct Clipboard {
    commands: mpsc::Sender<Command>,
    /// Written to after each command: wakes the thread from poll(2).
    wake: UnixStream,
    /// Our text while we own the selection (reads of it need no round trip).
    owned: Arc<Mutex<Option<Arc<str>>>>,
    thread: Option<JoinHandle<()>>,
    max_bytes: usize,
    display: String,
}

impl Clipboard {
    /// Connects to `display` (default `$DISPLAY`) and starts the thread. `max_bytes` must have
    /// passed [`check_max_bytes`].
    pub fn open(display: Option<&str>, max_bytes: usize) -> Result<Self, ClipboardError> {
        let name = crate::xdisplay::display_name(display).map_err(|f| ClipboardError::Open {
            display: f.display,
            reason: f.reason,
        })?;
        let (tx, rx) = mpsc::channel();
        let (wake, wake_rx) = UnixStream::pair().map_err(|e| ClipboardError::Open {
            display: name.clone(),
            reason: e.to_string(),
        })?;
        let owned = Arc::new(Mutex::new(None));
        let worker = worker::Worker::connect(&name, max_bytes, owned.clone(), rx, wake_rx)?;
        let thread = std::thread::Builder::new()
            .name("stripecast-clipboard".into())
            .spawn(move || worker.run())
            .map_err(|e| ClipboardError::Open {
                display: name.clone(),
                reason: format!("cannot start the clipboard thread: {e}"),
            })?;
        Ok(Self {
            commands: tx,
            wake,
            owned,
            thread: Some(thread),
            max_bytes,
            display: name,
        })
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn is_closed(&self) -> bool {
        self.thread.is_none()
    }

    fn send(&self, command: Command) -> Result<(), Command> {
        self.commands.send(command).map_err(|e| e.0)?;
        // A full socket buffer already holds a wake-up: losing this byte loses nothing.
        let _ = (&self.wake).write(&[1]);
        Ok(())
    }

    /// Makes us the owner of CLIPBOARD with `text`; returns once the server has done so (one
    /// round trip). Other clients' requests are answered on the thread until one of them
    /// takes the selection or [`Clipboard::close`].
    pub fn write(&self, text: &str) -> Result<(), ClipboardError> {
        if self.is_closed() {
            return Err(ClipboardError::Closed);
        }
        if text.len() > self.max_bytes {
            return Err(ClipboardError::WriteTooLarge {
                bytes: text.len(),
                max_bytes: self.max_bytes,
            });
        }
        let (tx, rx) = mpsc::channel();
        self.send(Command::Write {
            text: text.into(),
            done: tx,
        })
        .map_err(|_| ClipboardError::Lost("the clipboard thread has ended".into()))?;
        match rx.recv_timeout(WRITE_WAIT) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(ClipboardError::Timeout(WRITE_WAIT.as_millis() as u64))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ClipboardError::Lost(
                "the clipboard thread has ended".into(),
            )),
        }
    }

    /// Reads the selection as text; `done` is called once, with the text, `None` (no owner, or
    /// no text), or an error (over `max_bytes`, no answer within `timeout`). Our own text is
    /// returned at once, without a round trip. Never blocks.
    pub fn read(&self, timeout: Duration, done: ReadDone) {
        if self.is_closed() {
            return done(Err(ClipboardError::Closed));
        }
        let ours = self.owned.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(text) = ours {
            return done(Ok(Some(text.to_string())));
        }
        // A thread that has ended drops the command, and the reply answers so.
        let _ = self.send(Command::Read {
            deadline: Instant::now() + timeout,
            timeout,
            done: Reply(Some(done)),
        });
    }

    /// Gives up the selection if we own it, fails reads still waiting with
    /// [`ClipboardError::Closed`], and ends the thread. Idempotent.
    pub fn close(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.send(Command::Close);
            let _ = thread.join();
            *self.owned.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}

impl Drop for Clipboard {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> (ReadDone, mpsc::Receiver<ReadResult>) {
        let (tx, rx) = mpsc::channel();
        (
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
            rx,
        )
    }

    #[test]
    fn a_reply_answers_once_and_a_dropped_one_says_the_thread_ended() {
        let (done, rx) = recorder();
        Reply(Some(done)).send(Ok(Some("x".into())));
        assert_eq!(
            rx.try_iter().collect::<Vec<_>>(),
            vec![Ok(Some("x".into()))]
        );
        let (done, rx) = recorder();
        drop(Reply(Some(done)));
        let got: Vec<_> = rx.try_iter().collect();
        assert!(
            matches!(got.as_slice(), [Err(ClipboardError::Lost(_))]),
            "{got:?}"
        );
    }

    #[test]
    fn no_display_is_an_open_error() {
        let e = Clipboard::open(Some(""), DEFAULT_MAX_BYTES).err();
        assert!(matches!(e, Some(ClipboardError::Open { .. })), "{e:?}");
    }
}
