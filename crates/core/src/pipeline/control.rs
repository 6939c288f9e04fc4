//! Controlling a running capture from another thread: stop, key frames, live updates,
//! counters, what it encodes with; and the handle that owns its thread.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::encode::hw::{EncoderInfo, HardwareChoice, SharedEncoderInfo};
use crate::geometry::Region;
use crate::overlay::watermark::Watermark;
use crate::settings::Config;

/// Where the encoder of the current plan reports what it really is (for `streamInfo()`): set
/// when the plan is made for JPEG and striped x264, and by the factory for full-frame H.264,
/// whose hardware encoder is only known once opened.
pub type InfoSlot = Arc<Mutex<Option<SharedEncoderInfo>>>;

/// Cumulative counters since start. Cheap to read at any time.
#[derive(Debug, Default)]
pub struct Stats {
    pub frames_captured: AtomicU64,
    pub frames_with_changes: AtomicU64,
    pub stripes_delivered: AtomicU64,
    pub bytes_delivered: AtomicU64,
    /// Deliveries the consumer refused (their content is re-sent later).
    pub stripes_dropped: AtomicU64,
    /// Frames not encoded because too many deliveries were waiting for the consumer.
    pub frames_skipped: AtomicU64,
    pub encode_ns: AtomicU64,
    pub capture_ns: AtomicU64,
}

/// Shared between the capture thread and whoever controls it.
#[derive(Default)]
pub struct Controls {
    stop: AtomicBool,
    keyframe: AtomicBool,
    update: Mutex<Option<Update>>,
    info: InfoSlot,
    /// How the source reads (`streamInfo().capture`).
    capture: &'static str,
    /// The hardware encoder the current plan was made with.
    hardware: Mutex<Option<HardwareChoice>>,
    wake: Mutex<()>,
    wake_cv: Condvar,
    /// An eventfd made readable by `stop()`, so that a capture waiting on the X connection
    /// wakes at once (`None` if the kernel refused one: the wait then polls in short slices).
    wake_fd: Option<OwnedFd>,
    pub stats: Stats,
}

/// New settings for a running capture, already validated and clamped.
pub struct Update {
    pub config: Config,
    pub region: Region,
    /// The hardware encoder `config` leads to on this host (probed by the caller when the
    /// settings that choose it changed).
    pub choice: HardwareChoice,
    /// The watermark `config` asks for, loaded by the caller so that a bad file is reported
    /// before anything changes.
    pub watermark: Option<Watermark>,
}

/// Which capture path and encoder a running capture uses (`streamInfo()` in JavaScript).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStatus {
    /// How the source reads: `xshm+xdamage` (only what was drawn) or `xshm` (everything,
    /// every frame).
    pub capture: &'static str,
    /// The encoder; `None` until the first frame opened it.
    pub encoder: Option<EncoderInfo>,
}

impl Controls {
    /// The controls of a capture that reads with `capture` and reports its encoder in `info`.
    pub fn new(capture: &'static str, info: InfoSlot) -> Self {
        Self {
            wake_fd: eventfd(),
            info,
            capture,
            ..Self::default()
        }
    }

    /// The wake-up descriptor `stop()` signals, for a wait on the source.
    pub(super) fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        self.wake_fd.as_ref().map(|fd| fd.as_fd())
    }

    /// The hardware encoder choice the running plan was made with, for an update that keeps
    /// the settings that choose it (so that it need not probe the host again).
    pub fn hardware_choice(&self) -> Option<HardwareChoice> {
        self.hardware
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn set_hardware_choice(&self, choice: HardwareChoice) {
        *self.hardware.lock().unwrap_or_else(|e| e.into_inner()) = Some(choice);
    }

    pub(super) fn take_keyframe_request(&self) -> bool {
        self.keyframe.swap(false, Ordering::SeqCst)
    }

    /// What the capture reads with and encodes with right now.
    pub fn stream_status(&self) -> StreamStatus {
        let slot = self.info.lock().unwrap_or_else(|e| e.into_inner()).clone();
        StreamStatus {
            capture: self.capture,
            encoder: slot.map(|i| i.lock().unwrap_or_else(|e| e.into_inner()).clone()),
        }
    }

    /// Hands new settings to the capture thread; they apply before its next frame.
    pub fn update(&self, update: Update) {
        *self.update.lock().unwrap_or_else(|e| e.into_inner()) = Some(update);
    }

    pub(super) fn take_update(&self) -> Option<Update> {
        self.update.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Asks for a key frame (H.264 IDR; a full refresh for JPEG) on every stripe.
    pub fn request_keyframe(&self) {
        self.keyframe.store(true, Ordering::SeqCst);
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps until `deadline` or until stop is requested; returns false when stopping.
    pub(super) fn sleep_until(&self, deadline: Instant) -> bool {
        let mut guard = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            guard = self
                .wake_cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A running capture. Dropping it stops and joins the thread.
pub struct CaptureHandle {
    pub(super) controls: Arc<Controls>,
    pub(super) thread: Option<JoinHandle<()>>,
}

impl CaptureHandle {
    pub fn controls(&self) -> &Arc<Controls> {
        &self.controls
    }

    /// True until the thread has ended (after `stop()` or a fatal error).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the capture and waits for its thread; safe to call repeatedly.
    pub fn stop(&mut self) {
        self.controls.stop.store(true, Ordering::SeqCst);
        {
            let _g = self.controls.wake.lock().unwrap_or_else(|e| e.into_inner());
            self.controls.wake_cv.notify_all();
        }
        if let Some(fd) = &self.controls.wake_fd {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from a live buffer to an eventfd we own. A failure (the
            // counter is full: already signalled) needs no handling.
            unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            // The capture's encoders were freed as its thread ended; hand that memory back.
            release_free_memory();
        }
    }
}

/// Returns freed heap memory to the system. glibc keeps what a thread frees in that thread's
/// arena, and x264 and the encode helpers run on many threads: without this, every H.264
/// capture started and stopped left tens of MB resident (150 full-frame start/stop cycles at
/// 1080p: +30 MB, +54 MB after 300, +65 MB after 600), which a server that restarts captures
/// (viewers come and go, settings change) would see grow for no visible reason.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Keeps glibc's mmap threshold at its initial 128 KiB, once per process, unless the user set
/// it (`MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES`). glibc raises the threshold each time a
/// large mmapped block is freed, so that after one capture stops, the next one's large buffers
/// (x264's pictures, colour planes) come from the heaps of its threads, where they fragment
/// what `malloc_trim` can return: 1000 codec or region changes of a running 1280x720 capture
/// kept 7-9 MB more (anonymous) than after the first 100, -1 MB with the threshold kept; the
/// CPU per frame of full-screen video did not change (JPEG 4.32 against 4.34 ms, H.264 10.77
/// against 10.98, within their run-to-run spread).
pub fn keep_mmap_threshold() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        let set_by_user = std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
            || tunables.contains("mmap_threshold");
        #[cfg(target_env = "gnu")]
        if !set_by_user {
            // SAFETY: mallopt only changes the allocator's parameters.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
            }
        }
        let _ = set_by_user;
    });
}

impl Drop for CaptureHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A non-blocking eventfd, or `None` if the kernel refuses one.
pub(super) fn eventfd() -> Option<OwnedFd> {
    // SAFETY: plain syscall; a non-negative result is a new descriptor that we alone own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    // SAFETY: see above.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Monotonic clock in nanoseconds, the same clock as Node's `process.hrtime`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
