//! Wayland capture through `wlr-screencopy-unstable-v1` (sway, Hyprland, labwc, river, cage…),
//! with the pure-Rust Wayland client: no libwayland on the host.
//!
//! The compositor copies a whole output into a `wl_shm` buffer of ours and says which parts
//! changed since the previous copy (`copy_with_damage`, which also waits for a change: a still
//! screen costs nothing). Two buffers take turns: the compositor fills the back one while rows
//! are read from the front one, the latest complete frame; as soon as a frame is ready the two
//! swap and the next copy is asked for, so one is always in flight. Its damage, as rows of the
//! region, is what [`Source::take_damage`] reports.
//!
//! GNOME and KDE do not offer wlr-screencopy (they capture through xdg-desktop-portal and
//! PipeWire, which needs a user's consent on screen): not supported.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{wl_buffer, wl_output, wl_registry, wl_shm, wl_shm_pool};
use wayland_client::{delegate_noop, Connection, Dispatch, EventQueue, Proxy, QueueHandle, WEnum};
use wayland_protocols_wlr::screencopy::v1::client::{
    zwlr_screencopy_frame_v1::{self, ZwlrScreencopyFrameV1},
    zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1,
};

use super::memory::fit_region;
use super::{CaptureError, Source};
use crate::geometry::{Region, RowSpans};

fn lost(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Lost(format!("Wayland: {e}"))
}

/// Whether `display` names a Wayland socket (`wayland-1`, or an absolute path) rather than an
/// X display (`:0`).
pub fn is_wayland_name(display: &str) -> bool {
    display.starts_with("wayland-") || display.starts_with('/')
}

/// What the compositor said about the frame being copied.
#[derive(Debug, Default)]
struct FrameEvents {
    /// `buffer`: wl_shm format, width, height, stride.
    shm: Option<(WEnum<wl_shm::Format>, u32, u32, u32)>,
    /// `buffer_done` (version 3), or the `buffer` event itself before version 3.
    described: bool,
    y_invert: bool,
    damage: Vec<(u32, u32, u32, u32)>,
    ready: bool,
    failed: bool,
}

#[derive(Debug, Default)]
struct State {
    frame: FrameEvents,
}

/// A `wl_shm` buffer: a memfd mapped here and shared with the compositor.
struct ShmBuffer {
    buffer: wl_buffer::WlBuffer,
    map: NonNull<u8>,
    len: usize,
    /// width, height, stride, format as the compositor asked.
    shape: (u32, u32, u32, wl_shm::Format),
}

impl ShmBuffer {
    fn new(
        shm: &wl_shm::WlShm,
        qh: &QueueHandle<State>,
        shape: (u32, u32, u32, wl_shm::Format),
    ) -> Result<Self, CaptureError> {
        let (width, height, stride, format) = shape;
        let len = stride as usize * height as usize;
        // SAFETY: plain syscalls; the fd is owned right away and the mapping checked.
        let (fd, map) = unsafe {
            let raw = libc::memfd_create(c"stripecast-wl".as_ptr(), libc::MFD_CLOEXEC);
            if raw < 0 {
                return Err(lost(std::io::Error::last_os_error()));
            }
            let fd = OwnedFd::from_raw_fd(raw);
            if libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) != 0 {
                return Err(lost(std::io::Error::last_os_error()));
            }
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            );
            if map == libc::MAP_FAILED {
                return Err(lost(std::io::Error::last_os_error()));
            }
            (fd, NonNull::new_unchecked(map.cast::<u8>()))
        };
        let pool = shm.create_pool(fd.as_fd(), len as i32, qh, ());
        let buffer = pool.create_buffer(
            0,
            width as i32,
            height as i32,
            stride as i32,
            format,
            qh,
            (),
        );
        // The buffer keeps the pool's memory; the pool itself is no longer needed.
        pool.destroy();
        Ok(Self {
            buffer,
            map,
            len,
            shape,
        })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: mapped for `len` bytes until drop; read only while the compositor is not
        // copying into this buffer (it is the front one).
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.len) }
    }
}

impl Drop for ShmBuffer {
    fn drop(&mut self) {
        self.buffer.destroy();
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.len) };
    }
}

/// A wlroots output captured through wlr-screencopy.
pub struct WlrCapture {
    conn: Connection,
    queue: EventQueue<State>,
    state: State,
    shm: wl_shm::WlShm,
    manager: ZwlrScreencopyManagerV1,
    output: wl_output::WlOutput,
    overlay_cursor: bool,
    name: String,
    /// The frame being copied into `back`, if any.
    in_flight: Option<ZwlrScreencopyFrameV1>,
    front: Option<ShmBuffer>,
    back: Option<ShmBuffer>,
    front_y_invert: bool,
    /// Rows of the region changed by frames that became ready since the last `take_damage`
    /// (`None` inside: everything, as after the first frame).
    fresh: Option<Option<RowSpans>>,
    /// Whether the next copy is the first (a plain `copy`: there is no damage to wait for).
    first: bool,
    size: (u32, u32),
    resized: bool,
    region: Region,
    frame: Vec<u8>,
}

// SAFETY: the mappings are owned by this struct alone and only touched through `&mut self`.
unsafe impl Send for WlrCapture {}

impl WlrCapture {
    /// Connects to `display` (a socket name such as `wayland-1` in `$XDG_RUNTIME_DIR`, or a
    /// path; default `$WAYLAND_DISPLAY`), binds its first output and takes a first frame, so
    /// that the output's size is known. `overlay_cursor`: the compositor draws the cursor in.
    pub fn open(display: Option<&str>, overlay_cursor: bool) -> Result<Self, CaptureError> {
        let name = display
            .map(str::to_string)
            .or_else(|| std::env::var("WAYLAND_DISPLAY").ok())
            .unwrap_or_default();
        let open_err = |reason: String| CaptureError::Open {
            display: if name.is_empty() {
                "(none)".into()
            } else {
                name.clone()
            },
            reason,
        };
        if name.is_empty() {
            return Err(open_err(
                "no display given and $WAYLAND_DISPLAY is not set".into(),
            ));
        }
        let path = if name.starts_with('/') {
            PathBuf::from(&name)
        } else {
            let dir = std::env::var_os("XDG_RUNTIME_DIR")
                .ok_or_else(|| open_err("$XDG_RUNTIME_DIR is not set".into()))?;
            PathBuf::from(dir).join(&name)
        };
        let stream =
            UnixStream::connect(&path).map_err(|e| open_err(format!("{}: {e}", path.display())))?;
        let conn = Connection::from_socket(stream).map_err(|e| open_err(e.to_string()))?;
        let (globals, queue) =
            registry_queue_init::<State>(&conn).map_err(|e| open_err(e.to_string()))?;
        let qh = queue.handle();
        let shm: wl_shm::WlShm = globals
            .bind(&qh, 1..=1, ())
            .map_err(|e| open_err(format!("wl_shm: {e}")))?;
        let manager: ZwlrScreencopyManagerV1 = globals.bind(&qh, 1..=3, ()).map_err(|_| {
            open_err(
                "the compositor offers no zwlr_screencopy_manager_v1 (wlroots compositors do; GNOME and KDE need xdg-desktop-portal, which stripecast does not support)"
                    .into(),
            )
        })?;
        let output: wl_output::WlOutput = globals
            .bind(&qh, 1..=4, ())
            .map_err(|e| open_err(format!("no output: {e}")))?;
        let mut capture = Self {
            conn,
            queue,
            state: State::default(),
            shm,
            manager,
            output,
            overlay_cursor,
            name,
            in_flight: None,
            front: None,
            back: None,
            front_y_invert: false,
            fresh: None,
            first: true,
            size: (0, 0),
            resized: false,
            region: Region::default(),
            frame: Vec::new(),
        };
        capture.request()?;
        let until = Instant::now() + Duration::from_secs(5);
        while capture.front.is_none() {
            if Instant::now() >= until {
                return Err(lost("no first frame from the compositor within 5 s"));
            }
            capture.pump(Duration::from_millis(100), None)?;
        }
        capture.resized = false;
        Ok(capture)
    }

    /// The socket it captures.
    pub fn display(&self) -> &str {
        &self.name
    }

    /// Asks for the next frame of the output (its buffer is made once the compositor says
    /// what it needs).
    fn request(&mut self) -> Result<(), CaptureError> {
        if self.in_flight.is_some() {
            return Ok(());
        }
        self.state.frame = FrameEvents::default();
        let qh = self.queue.handle();
        let frame =
            self.manager
                .capture_output(i32::from(self.overlay_cursor), &self.output, &qh, ());
        self.in_flight = Some(frame);
        self.conn.flush().map_err(lost)
    }

    /// Reads and handles what has arrived, waiting up to `wait` (or until `wake` is readable)
    /// for something to.
    fn pump(&mut self, wait: Duration, wake: Option<BorrowedFd<'_>>) -> Result<(), CaptureError> {
        self.conn.flush().map_err(lost)?;
        if let Some(guard) = self.queue.prepare_read() {
            let mut fds = [
                libc::pollfd {
                    fd: guard.connection_fd().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: wake.map_or(-1, |w| w.as_raw_fd()),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // Rounded up: rounded down, the last fraction of a millisecond before a deadline
            // would be polled for with a timeout of 0 again and again.
            let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            // SAFETY: two valid pollfd structs (a negative fd is ignored by poll).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
            if n > 0 && fds[0].revents != 0 {
                guard.read().map_err(lost)?;
            }
        }
        self.queue.dispatch_pending(&mut self.state).map_err(lost)?;
        self.advance()
    }

    /// Moves the frame in flight along: gives the compositor a buffer once it said what it
    /// needs, and swaps buffers once the frame is ready.
    fn advance(&mut self) -> Result<(), CaptureError> {
        let Some(frame) = self.in_flight.clone() else {
            return Ok(());
        };
        if self.state.frame.failed {
            self.in_flight = None;
            frame.destroy();
            // The output may have changed mode: ask again.
            return self.request();
        }
        if self.state.frame.ready {
            let damage = std::mem::take(&mut self.state.frame.damage);
            let y_invert = self.state.frame.y_invert;
            frame.destroy();
            self.in_flight = None;
            std::mem::swap(&mut self.front, &mut self.back);
            self.front_y_invert = y_invert;
            let (width, height, ..) = self
                .front
                .as_ref()
                .expect("a ready frame had a buffer")
                .shape;
            let first = self.size == (0, 0);
            if (width, height) != self.size {
                self.resized = !first;
                self.size = (width, height);
            }
            self.note_damage(&damage, y_invert, first);
            return self.request();
        }
        let f = &self.state.frame;
        let Some((format, width, height, stride)) = f.shm.filter(|_| f.described) else {
            return Ok(());
        };
        let WEnum::Value(format) = format else {
            return Err(lost("the compositor asked for an unknown wl_shm format"));
        };
        if !matches!(
            format,
            wl_shm::Format::Xrgb8888
                | wl_shm::Format::Argb8888
                | wl_shm::Format::Xbgr8888
                | wl_shm::Format::Abgr8888
        ) {
            return Err(lost(format!(
                "the compositor offers the output as {format:?}; stripecast reads 32-bit RGB only"
            )));
        }
        let shape = (width, height, stride, format);
        if self.back.as_ref().is_none_or(|b| b.shape != shape) {
            let qh = self.queue.handle();
            self.back = Some(ShmBuffer::new(&self.shm, &qh, shape)?);
        }
        let buffer = &self.back.as_ref().expect("made above").buffer;
        if self.first {
            frame.copy(buffer);
            self.first = false;
        } else {
            frame.copy_with_damage(buffer);
        }
        // Asked once: forget the description so that the copy is not asked for again.
        self.state.frame.shm = None;
        self.conn.flush().map_err(lost)
    }

    /// Adds a ready frame's damage (buffer coordinates) to what `take_damage` reports next:
    /// everything after the first frame, a resize, or before a region is set.
    fn note_damage(&mut self, damage: &[(u32, u32, u32, u32)], y_invert: bool, first: bool) {
        if first || self.resized || self.region.height == 0 {
            self.fresh = Some(None);
            return;
        }
        let rows = match &mut self.fresh {
            Some(None) => return,
            Some(Some(rows)) => rows,
            None => self
                .fresh
                .insert(Some(RowSpans::default()))
                .as_mut()
                .expect("just set"),
        };
        let r = self.region;
        let height = self.size.1;
        for &(x, y, w, h) in damage {
            if x + w <= r.x || x >= r.x + r.width {
                continue;
            }
            let (top, bottom) = if y_invert {
                (height.saturating_sub(y + h), height.saturating_sub(y))
            } else {
                (y, y + h)
            };
            rows.add(
                i64::from(top) - i64::from(r.y),
                i64::from(bottom) - i64::from(r.y),
                r.height,
            );
        }
    }
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for State {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZwlrScreencopyFrameV1, ()> for State {
    fn event(
        state: &mut Self,
        frame: &ZwlrScreencopyFrameV1,
        event: zwlr_screencopy_frame_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_screencopy_frame_v1::Event;
        let f = &mut state.frame;
        match event {
            Event::Buffer {
                format,
                width,
                height,
                stride,
            } => {
                f.shm = Some((format, width, height, stride));
                // Before version 3 there is no buffer_done: the buffer event is all there is.
                f.described = f.described || frame.version() < 3;
            }
            Event::BufferDone => f.described = true,
            Event::Flags { flags } => {
                f.y_invert = matches!(flags, WEnum::Value(v) if v.contains(zwlr_screencopy_frame_v1::Flags::YInvert));
            }
            Event::Damage {
                x,
                y,
                width,
                height,
            } => f.damage.push((x, y, width, height)),
            Event::Ready { .. } => f.ready = true,
            Event::Failed => f.failed = true,
            _ => {}
        }
    }
}

delegate_noop!(State: ignore wl_shm::WlShm);
delegate_noop!(State: ignore wl_shm_pool::WlShmPool);
delegate_noop!(State: ignore wl_buffer::WlBuffer);
delegate_noop!(State: ignore wl_output::WlOutput);
delegate_noop!(State: ignore ZwlrScreencopyManagerV1);

impl Source for WlrCapture {
    fn name(&self) -> &'static str {
        "wlr-screencopy"
    }

    fn screen_size(&self) -> (u32, u32) {
        self.size
    }

    fn region(&self) -> Region {
        self.region
    }

    fn set_region(&mut self, region: Region) -> Result<(), CaptureError> {
        fit_region(region, self.size)?;
        self.region = region;
        self.frame = vec![0; region.width as usize * region.height as usize * 4];
        // The next frame's rows, whatever its damage, are all news to this region.
        self.fresh = Some(None);
        Ok(())
    }

    fn watch_damage(&mut self) -> bool {
        true
    }

    fn take_damage(&mut self) -> Result<Option<RowSpans>, CaptureError> {
        self.pump(Duration::ZERO, None)?;
        Ok(self.fresh.take().unwrap_or(Some(RowSpans::default())))
    }

    fn take_resize(&mut self) -> Option<(u32, u32)> {
        std::mem::take(&mut self.resized).then_some(self.size)
    }

    fn read_rows(&mut self, rows: &RowSpans) -> Result<(), CaptureError> {
        let Some(front) = &self.front else {
            return Ok(());
        };
        let (_, height, stride, format) = front.shape;
        let r = self.region;
        if r.x + r.width > front.shape.0 || r.y + r.height > height {
            return Err(lost("the region is off the output"));
        }
        let swap_rb = matches!(format, wl_shm::Format::Xbgr8888 | wl_shm::Format::Abgr8888);
        let bytes = front.bytes();
        let out_stride = r.width as usize * 4;
        for &(a, b) in rows.spans() {
            for row in a..b {
                let y = r.y + row;
                let src_row = if self.front_y_invert {
                    height - 1 - y
                } else {
                    y
                };
                let from = src_row as usize * stride as usize + r.x as usize * 4;
                let src = &bytes[from..from + out_stride];
                let dst = &mut self.frame[row as usize * out_stride..][..out_stride];
                if swap_rb {
                    for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                        d.copy_from_slice(&[s[2], s[1], s[0], s[3]]);
                    }
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
        Ok(())
    }

    fn shrank(&mut self) -> bool {
        self.resized
    }

    fn pixels(&mut self) -> &mut [u8] {
        &mut self.frame
    }

    /// Waits for the compositor to finish a copy (it waits for damage itself), in slices of
    /// 50 ms to notice `stop()` when there is no wake descriptor.
    fn wait_for_change(
        &mut self,
        until: Instant,
        _pointer: bool,
        wake: Option<BorrowedFd<'_>>,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool, CaptureError> {
        loop {
            if self.fresh.is_some() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= until || stop() {
                return Ok(false);
            }
            let slice = if wake.is_some() {
                until - now
            } else {
                (until - now).min(Duration::from_millis(50))
            };
            self.pump(slice, wake)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wayland_sockets_are_told_from_x_displays() {
        for d in ["wayland-0", "wayland-1", "/run/user/1000/wayland-1"] {
            assert!(is_wayland_name(d), "{d}");
        }
        for d in [":0", "localhost:10.0", "unix:3"] {
            assert!(!is_wayland_name(d), "{d}");
        }
    }

    #[test]
    fn no_socket_is_a_clean_error() {
        let missing = "/nonexistent/stripecast/wayland-9";
        match WlrCapture::open(Some(missing), false) {
            Err(CaptureError::Open { display, reason }) => {
                assert_eq!(display, missing);
                assert!(reason.contains(missing), "{reason}");
            }
            Err(e) => panic!("expected Open, got {e}"),
            Ok(_) => panic!("opened a socket that does not exist"),
        }
    }
}
