//! X11 capture through MIT-SHM: one SysV segment sized for the region, attached once and
//! reused every frame; `ShmGetImage` writes the region's BGRX pixels straight into it.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xinput::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{
    ChangeWindowAttributesAux, ConnectionExt as _, EventMask, ImageFormat, Window,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

use super::{CaptureError, CursorImage, MonitorInfo, Source};
use crate::geometry::{Region, RowSpans};
use crate::scroll::Rect;

/// Damage rectangles kept per frame at most (for scroll copies).
const MAX_RECTS: usize = 256;

/// XDamage on the root window: tells which parts of the screen were drawn since the last look.
struct DamageTracker {
    damage: damage::Damage,
    parts: xfixes::Region,
}

/// A SysV shared-memory segment attached both here and in the X server.
struct ShmSegment {
    seg: shm::Seg,
    addr: NonNull<u8>,
    size: usize,
}

/// An open display with a capture buffer for one region.
pub struct X11Capture {
    conn: RustConnection,
    display: String,
    root: Window,
    screen_width: u32,
    screen_height: u32,
    xfixes: bool,
    region: Region,
    segment: Option<ShmSegment>,
    damage: Option<DamageTracker>,
    /// The screen changed size since `take_resize` was last called.
    resized: bool,
    /// A DamageNotify was read and its damage not yet fetched.
    notified: bool,
    /// Damaged rows of the region fetched by `wait_for_change`, not yet taken by `take_damage`.
    pending: RowSpans,
    /// The rectangles of `pending`, in region coordinates.
    pending_rects: Vec<Rect>,
    /// The rectangles the last `take_damage` reported.
    last_rects: Vec<Rect>,
    /// XInput 2 pointer motion events are selected (see `enable_pointer_events`).
    pointer_events: bool,
    /// The pointer moved since the last `take_damage`.
    pointer_moved: bool,
}

// SAFETY: the segment pointer is owned by this struct alone and only touched through `&mut self`
// (or `&self` for reads); the connection is Send.
unsafe impl Send for X11Capture {}

fn lost(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Lost(e.to_string())
}

impl X11Capture {
    /// Connects to `display` (default: `$DISPLAY`) and checks for MIT-SHM and a 32-bit
    /// TrueColor root (the BGRX layout every encoder expects).
    pub fn open(display: Option<&str>) -> Result<Self, CaptureError> {
        let (conn, screen_num, name) =
            crate::xdisplay::connect(display).map_err(|f| CaptureError::Open {
                display: f.display,
                reason: f.reason,
            })?;
        let screen = &conn.setup().roots[screen_num];
        let (root, screen_width, screen_height, depth) = (
            screen.root,
            u32::from(screen.width_in_pixels),
            u32::from(screen.height_in_pixels),
            screen.root_depth,
        );
        let bpp = conn
            .setup()
            .pixmap_formats
            .iter()
            .find(|f| f.depth == depth)
            .map(|f| f.bits_per_pixel)
            .unwrap_or(0);
        if !(depth == 24 || depth == 32) || bpp != 32 {
            return Err(CaptureError::Format(format!(
                "root depth {depth} at {bpp} bits per pixel; need depth 24 or 32 at 32 bits per pixel"
            )));
        }
        if conn.setup().image_byte_order != x11rb::protocol::xproto::ImageOrder::LSB_FIRST {
            return Err(CaptureError::Format("big-endian image byte order".into()));
        }
        let has_shm = conn
            .shm_query_version()
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some();
        if !has_shm {
            return Err(CaptureError::NoShm(name));
        }
        // Root ConfigureNotify events tell us when the screen changes size (RandR).
        let _ = conn.change_window_attributes(
            root,
            &ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY),
        );
        let xfixes = conn
            .xfixes_query_version(4, 0)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some();
        Ok(Self {
            conn,
            display: name,
            root,
            screen_width,
            screen_height,
            xfixes,
            region: Region::default(),
            segment: None,
            damage: None,
            resized: false,
            notified: false,
            pending: RowSpans::default(),
            pending_rects: Vec::new(),
            last_rects: Vec::new(),
            pointer_events: false,
            pointer_moved: false,
        })
    }

    /// Asks the server for the screen size now (after a failed read, to tell a resize from a
    /// lost connection).
    fn query_screen_size(&mut self) -> Result<(u32, u32), CaptureError> {
        let g = self
            .conn
            .get_geometry(self.root)
            .map_err(lost)?
            .reply()
            .map_err(lost)?;
        let size = (u32::from(g.width), u32::from(g.height));
        if size != (self.screen_width, self.screen_height) {
            (self.screen_width, self.screen_height) = size;
            self.resized = true;
        }
        Ok(size)
    }

    /// Reads the events that have arrived, without blocking: notes damage and size changes.
    fn read_events(&mut self) -> Result<(), CaptureError> {
        while let Some(event) = self.conn.poll_for_event().map_err(lost)? {
            match event {
                Event::DamageNotify(_) => self.notified = true,
                Event::XinputRawMotion(_) | Event::XinputMotion(_) => self.pointer_moved = true,
                Event::ConfigureNotify(e) if e.window == self.root => {
                    let size = (u32::from(e.width), u32::from(e.height));
                    if size != (self.screen_width, self.screen_height) {
                        (self.screen_width, self.screen_height) = size;
                        self.resized = true;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Moves the damage accumulated in the server into `rows` (the region's rows it touches)
    /// and re-arms the notification.
    fn fetch_damage(&mut self, rows: &mut RowSpans) -> Result<(), CaptureError> {
        let Some(t) = &self.damage else {
            return Ok(());
        };
        self.conn
            .damage_subtract(t.damage, x11rb::NONE, t.parts)
            .map_err(lost)?;
        let reply = self
            .conn
            .xfixes_fetch_region(t.parts)
            .map_err(lost)?
            .reply()
            .map_err(lost)?;
        let r = self.region;
        for rect in reply.rectangles {
            let (x0, x1) = (i64::from(rect.x), i64::from(rect.x) + i64::from(rect.width));
            if x1 <= i64::from(r.x) || x0 >= i64::from(r.x + r.width) {
                continue;
            }
            let top = i64::from(rect.y) - i64::from(r.y);
            rows.add(top, top + i64::from(rect.height), r.height);
            // Clipped to the region; a flood of small pieces is of no use to scroll copies.
            let (left, right) = (x0.max(i64::from(r.x)), x1.min(i64::from(r.x + r.width)));
            let (y0, y1) = (
                top.max(0),
                (top + i64::from(rect.height)).min(i64::from(r.height)),
            );
            if y0 < y1 && self.pending_rects.len() < MAX_RECTS {
                self.pending_rects.push(Rect {
                    x: (left - i64::from(r.x)) as u32,
                    y: y0 as u32,
                    width: (right - left) as u32,
                    height: (y1 - y0) as u32,
                });
            }
        }
        Ok(())
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    fn attach_segment(&self, size: usize) -> Result<ShmSegment, CaptureError> {
        // SAFETY: plain SysV calls; every failure path below undoes what was done before it.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600);
            if id < 0 {
                return Err(CaptureError::Shm(format!(
                    "shmget({size}): {}",
                    std::io::Error::last_os_error()
                )));
            }
            let addr = libc::shmat(id, std::ptr::null(), 0);
            if addr as isize == -1 {
                let e = std::io::Error::last_os_error();
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                return Err(CaptureError::Shm(format!("shmat: {e}")));
            }
            let seg = self.conn.generate_id().map_err(lost);
            let attached = seg.and_then(|seg| {
                self.conn
                    .shm_attach(seg, id as u32, false)
                    .map_err(lost)?
                    .check()
                    .map_err(lost)
                    .map(|_| seg)
            });
            // Marked for removal now that both sides are attached (or attaching failed): the
            // kernel frees it when the last user detaches, even if this process crashes.
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            match attached {
                Ok(seg) => Ok(ShmSegment {
                    seg,
                    addr: NonNull::new_unchecked(addr.cast()),
                    size,
                }),
                Err(e) => {
                    libc::shmdt(addr);
                    Err(e)
                }
            }
        }
    }

    fn release_segment(&mut self) {
        if let Some(s) = self.segment.take() {
            // The server may already be gone; detaching locally is what matters.
            let _ = self.conn.shm_detach(s.seg).map(|c| c.ignore_error());
            let _ = self.conn.flush();
            // SAFETY: `addr` came from shmat and is detached exactly once.
            unsafe { libc::shmdt(s.addr.as_ptr().cast()) };
        }
    }
}

impl Source for X11Capture {
    fn name(&self) -> &'static str {
        if self.damage.is_some() {
            "xshm+xdamage"
        } else {
            "xshm"
        }
    }

    fn shrank(&mut self) -> bool {
        self.query_screen_size().is_ok() && self.resized
    }

    /// RandR 1.5 `GetMonitors` (active ones): what a desktop calls its monitors, including
    /// ones a client defined with `xrandr --setmonitor`. A server without RandR 1.5 has none.
    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        let v = self.conn.randr_query_version(1, 5).map_err(lost)?.reply();
        if !v.is_ok_and(|v| (v.major_version, v.minor_version) >= (1, 5)) {
            return Ok(Vec::new());
        }
        let reply = self
            .conn
            .randr_get_monitors(self.root, true)
            .map_err(lost)?
            .reply()
            .map_err(lost)?;
        let mut out = Vec::with_capacity(reply.monitors.len());
        for m in reply.monitors {
            let name = self
                .conn
                .get_atom_name(m.name)
                .map_err(lost)?
                .reply()
                .map_err(lost)?
                .name;
            out.push(MonitorInfo {
                name: String::from_utf8_lossy(&name).into_owned(),
                x: m.x.into(),
                y: m.y.into(),
                width: m.width.into(),
                height: m.height.into(),
                primary: m.primary,
            });
        }
        Ok(out)
    }

    /// Subscribes to XDamage on the root window. Returns false (and captures every frame in
    /// full) when the server lacks DAMAGE or XFixes regions.
    fn watch_damage(&mut self) -> bool {
        if self.damage.is_some() {
            return true;
        }
        let ok = self.xfixes
            && self
                .conn
                .damage_query_version(1, 1)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some();
        if !ok {
            return false;
        }
        let made = (|| -> Result<DamageTracker, CaptureError> {
            let damage = self.conn.generate_id().map_err(lost)?;
            let parts = self.conn.generate_id().map_err(lost)?;
            self.conn
                .damage_create(damage, self.root, damage::ReportLevel::NON_EMPTY)
                .map_err(lost)?
                .check()
                .map_err(lost)?;
            self.conn
                .xfixes_create_region(parts, &[])
                .map_err(lost)?
                .check()
                .map_err(lost)?;
            Ok(DamageTracker { damage, parts })
        })();
        match made {
            Ok(t) => {
                self.damage = Some(t);
                true
            }
            Err(_) => false,
        }
    }

    /// Subscribes to the pointer's motion (XInput 2 events on the root window), so that
    /// `wait_for_change` can wake for a moving cursor: a cursor moves without drawing on the
    /// screen (hardware or sprite cursors are not in the framebuffer), so XDamage does not
    /// see it. Returns false when the server lacks XInput 2.
    fn watch_pointer(&mut self) -> bool {
        if self.pointer_events {
            return true;
        }
        let ok = (|| -> Result<bool, CaptureError> {
            let reply = self
                .conn
                .xinput_xi_query_version(2, 0)
                .map_err(lost)?
                .reply()
                .map_err(lost)?;
            if reply.major_version < 2 {
                return Ok(false);
            }
            // Raw motion: every pointer device's motion, wherever the pointer is (real devices
            // and XTest injection). Motion on the root: also pointer warps, while over it.
            let masks = [
                xinput::EventMask {
                    deviceid: xinput::Device::ALL.into(),
                    mask: vec![xinput::XIEventMask::RAW_MOTION],
                },
                xinput::EventMask {
                    deviceid: xinput::Device::ALL_MASTER.into(),
                    mask: vec![xinput::XIEventMask::MOTION],
                },
            ];
            self.conn
                .xinput_xi_select_events(self.root, &masks)
                .map_err(lost)?
                .check()
                .map_err(lost)?;
            Ok(true)
        })();
        self.pointer_events = matches!(ok, Ok(true));
        self.pointer_events
    }

    /// The new screen size, once, after the screen changed size (seen by `take_damage`).
    fn take_resize(&mut self) -> Option<(u32, u32)> {
        std::mem::take(&mut self.resized).then_some((self.screen_width, self.screen_height))
    }

    /// Blocks until XDamage reports a drawing in the region (or the screen changes size, or,
    /// with `pointer`, the pointer moves), `until` passes, or `stop()` turns true; returns
    /// whether something changed. A drawing stays pending for `take_damage`. Without XDamage it
    /// returns false at once. `wake`, when given, is a descriptor that becomes readable when
    /// `stop()` turns true; without it the wait polls in slices of 20 ms to notice.
    fn wait_for_change(
        &mut self,
        until: Instant,
        pointer: bool,
        wake: Option<BorrowedFd<'_>>,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool, CaptureError> {
        if self.damage.is_none() {
            return Ok(false);
        }
        loop {
            self.read_events()?;
            if !self.pending.is_empty() || self.resized || (pointer && self.pointer_moved) {
                return Ok(true);
            }
            if std::mem::take(&mut self.notified) {
                // Fetched now, to tell drawing in the region from drawing elsewhere; kept for
                // `take_damage`. Then round again: events that came in while the reply was
                // awaited are queued inside the connection, where poll(2) cannot see them.
                let mut rows = std::mem::take(&mut self.pending);
                self.fetch_damage(&mut rows)?;
                self.pending = rows;
                continue;
            }
            let now = Instant::now();
            if now >= until || stop() {
                return Ok(false);
            }
            let slice = match wake {
                Some(_) => until - now,
                None => (until - now).min(Duration::from_millis(20)),
            };
            // A missing wake-up descriptor is -1, which poll(2) skips.
            crate::xdisplay::wait_readable(
                &[
                    self.conn.stream().as_raw_fd(),
                    wake.map_or(-1, |w| w.as_raw_fd()),
                ],
                Some(slice),
            );
        }
    }

    /// Rows of the region drawn since the previous call, from XDamage. Also notices screen
    /// size changes (see `take_resize`). `None` when damage
    /// tracking is off (then everything must be assumed changed).
    fn take_damage(&mut self) -> Result<Option<RowSpans>, CaptureError> {
        self.read_events()?;
        // The frame that calls this reads the cursor anew.
        self.pointer_moved = false;
        if self.damage.is_none() {
            return Ok(None);
        }
        let mut rows = std::mem::take(&mut self.pending);
        if std::mem::take(&mut self.notified) {
            self.fetch_damage(&mut rows)?;
        }
        self.last_rects = std::mem::take(&mut self.pending_rects);
        Ok(Some(rows))
    }

    fn damage_rects(&self) -> Vec<Rect> {
        self.last_rects.clone()
    }

    fn screen_size(&self) -> (u32, u32) {
        (self.screen_width, self.screen_height)
    }

    fn region(&self) -> Region {
        self.region
    }

    fn has_cursor(&self) -> bool {
        self.xfixes
    }

    /// Bytes between rows of the captured image.
    /// Sets the region to capture and (re)allocates the shared segment to fit it.
    fn set_region(&mut self, region: Region) -> Result<(), CaptureError> {
        if region.width == 0
            || region.height == 0
            || region.x + region.width > self.screen_width
            || region.y + region.height > self.screen_height
        {
            return Err(CaptureError::Format(format!(
                "region {}x{}+{}+{} does not fit the {}x{} screen",
                region.width,
                region.height,
                region.x,
                region.y,
                self.screen_width,
                self.screen_height
            )));
        }
        let size = region.width as usize * region.height as usize * 4;
        if self.segment.as_ref().map(|s| s.size) != Some(size) {
            self.release_segment();
            self.segment = Some(self.attach_segment(size)?);
        }
        self.region = region;
        // Rows of the old region; a new region is read whole anyway.
        self.pending = RowSpans::default();
        self.pending_rects.clear();
        self.last_rects.clear();
        Ok(())
    }

    /// One `ShmGetImage` per span into the segment at the span's offset, sent together: one
    /// round trip in all.
    fn read_rows(&mut self, rows: &RowSpans) -> Result<(), CaptureError> {
        let r = self.region;
        let stride = self.stride();
        let seg = self
            .segment
            .as_ref()
            .ok_or_else(|| CaptureError::Shm("no region set".into()))?;
        // Send every request first, then collect the replies: one round trip in all.
        let mut cookies = Vec::with_capacity(rows.spans().len());
        for &(start, end) in rows.spans() {
            cookies.push(
                self.conn
                    .shm_get_image(
                        self.root,
                        r.x as i16,
                        (r.y + start) as i16,
                        r.width as u16,
                        (end - start) as u16,
                        !0,
                        ImageFormat::Z_PIXMAP.into(),
                        seg.seg,
                        (start as usize * stride) as u32,
                    )
                    .map_err(lost)?,
            );
        }
        for c in cookies {
            c.reply().map_err(lost)?;
        }
        Ok(())
    }

    /// The pixels read so far (what the last grab left in the shared segment).
    fn pixels(&mut self) -> &mut [u8] {
        match &self.segment {
            // SAFETY: the segment is `size` bytes, mapped for as long as `self.segment` lives, and
            // no request is writing into it now (every read waited for its reply).
            Some(seg) => unsafe { std::slice::from_raw_parts_mut(seg.addr.as_ptr(), seg.size) },
            None => &mut [],
        }
    }

    /// The current cursor image and position, or `None` when XFixes is missing.
    fn cursor(&self) -> Result<Option<CursorImage>, CaptureError> {
        if !self.xfixes {
            return Ok(None);
        }
        let c = self
            .conn
            .xfixes_get_cursor_image()
            .map_err(lost)?
            .reply()
            .map_err(lost)?;
        Ok(Some(CursorImage {
            x: i32::from(c.x) - i32::from(c.xhot),
            y: i32::from(c.y) - i32::from(c.yhot),
            width: u32::from(c.width),
            height: u32::from(c.height),
            serial: c.cursor_serial,
            pixels: c.cursor_image,
        }))
    }
}

impl Drop for X11Capture {
    fn drop(&mut self) {
        self.release_segment();
    }
}
