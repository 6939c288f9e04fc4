//! Opening an X display, shared by everything that speaks X (capture, input, clipboard): the
//! name (`$DISPLAY` by default) and the connection, with one wording for what went wrong; and
//! waiting on a connection's socket beside a wake-up descriptor.

use std::os::fd::RawFd;
use std::time::Duration;

use x11rb::rust_connection::RustConnection;

/// Why a display could not be opened; each module wraps it in its own `Open` error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFailure {
    pub display: String,
    pub reason: String,
}

/// The display to open: `display`, else `$DISPLAY`.
pub fn display_name(display: Option<&str>) -> Result<String, OpenFailure> {
    let name = display
        .map(str::to_string)
        .or_else(|| std::env::var("DISPLAY").ok())
        .unwrap_or_default();
    if name.is_empty() {
        return Err(OpenFailure {
            display: "(none)".into(),
            reason: "no display given and $DISPLAY is not set".into(),
        });
    }
    Ok(name)
}

/// Connects to `display` (default `$DISPLAY`): the connection, its screen number and the name.
pub fn connect(display: Option<&str>) -> Result<(RustConnection, usize, String), OpenFailure> {
    let name = display_name(display)?;
    match x11rb::connect(Some(&name)) {
        Ok((conn, screen)) => Ok((conn, screen, name)),
        Err(e) => Err(OpenFailure {
            display: name,
            reason: e.to_string(),
        }),
    }
}

/// Waits until one of `fds` is readable or `timeout` passes (`None`: no limit); a negative
/// descriptor is skipped. Errors (EINTR) and timeouts alike just return: the callers loop and
/// look at their connection again.
pub fn wait_readable(fds: &[RawFd; 2], timeout: Option<Duration>) {
    let ms = timeout.map_or(-1, |t| {
        t.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
    });
    let mut pollfds = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: two valid pollfds for the duration of the call.
    unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, ms) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_name_wins_and_an_unreachable_display_names_itself() {
        assert_eq!(display_name(Some(":7")).unwrap(), ":7");
        let err = connect(Some("/nonexistent/socket:0")).unwrap_err();
        assert_eq!(err.display, "/nonexistent/socket:0");
        assert!(!err.reason.is_empty());
    }
}
