//! xpaint: draws known content on the root window of an X11 display, one command per line on
//! stdin. Used by the tests, the demo and the benchmark of stripecast.
//!
//! Usage: `xpaint [--display :N]` (default `$DISPLAY`).
//!
//! Every command is executed on the root window, followed by a round trip so that the server
//! has processed it, then exactly one line is printed: `ok` or `error: <message>`.
//!
//! Commands (colours are `RRGGBB` hex, coordinates in root window pixels):
//! - `fill X Y W H RRGGBB`          solid rectangle
//! - `noise X Y W H SEED`           deterministic pattern of 4x4 blocks of random colour
//!   (block colour depends only on SEED and the block position relative to X,Y)
//! - `text X Y RRGGBB TEXT...`      core font "fixed"; Y is the TOP of the text line
//!   (baseline = Y + font ascent); the rest of the line is the text, drawn transparently
//! - `image X Y W H PATH`           PutImage of a raw BGRX file of W*H*4 bytes
//! - `dump X Y W H PATH`            core GetImage (ZPixmap, not SHM) to a raw BGRX file
//! - `play FPS SCENE SECONDS`       animate SCENE (`bounce`) at FPS for SECONDS
//!   (0 = until stdin closes; a `stop` line or termination ends it early in any case);
//!   the first `play` draws the background, a later one continues where the last stopped
//! - `scene NAME FPS SECONDS`       benchmark scene player (see `scene.rs`): `static`, `typing`,
//!   `scroll`, `scroll-window`, `scroll-lines`, `video`, `window-video`. Content is precomputed (server-side pixmaps) on first
//!   use; each frame only copies what changes. Runs until SECONDS (0 = until `stop` or stdin
//!   closes); running the same NAME again continues where it stopped (no redraw), another NAME
//!   sets the new scene up. Prints `scene NAME running setup_ms=S` on stderr once the first
//!   picture is on screen; replies `ok` when it ends and prints
//!   `scene NAME frames=N late=L setup_ms=S` on stderr.
//! - `scene-restart`                puts the current scene back to its set-up picture and state
//!   (so that every run of it shows the same pictures) and empties its log
//! - `scene-log PATH`               JSON lines, one per picture the current scene has drawn since
//!   it was set up or restarted: `{"picture":P,"t0":MS,"t1":MS,"x":X,"y":Y}`, P counting from the
//!   set-up picture (0), t0/t1 CLOCK_MONOTONIC milliseconds before its requests and after the
//!   round trip that follows them, x/y where it put what moves (see `scene.rs`)
//! - `scene-parts DIR`              what the current scene's pictures are made of (raw BGRX files
//!   and `scene.json`), so that any picture P of the log can be rebuilt to compare a decoded
//!   frame with what was on screen when it was grabbed
//! - `monitor NAME WxH+X+Y`         defines (or replaces) a RandR 1.5 monitor of that name (no
//!   outputs), as `xrandr --setmonitor` would; the server forgets it when xpaint's connection
//!   closes
//! - `monitor-delete NAME`          removes it
//! - `input-window X Y W H RRGGBB`  creates (or re-creates, moved/resized) one override-redirect
//!   top-level window at root X,Y, W x H, of that background colour, that receives key, button
//!   and pointer motion events; maps it, waits until it is exposed and gives it the input focus.
//!   On a button press it draws a 9x9 square centred on it (ff0000 button 1, 00ff00 button 2,
//!   0000ff button 3); on a key press with text, a 6x12 ffff00 block in the next 8x16 character
//!   cell of lines starting at the window's (10,10)
//! - `input-log PATH`               from now on appends one JSON line per event of the input
//!   window to PATH (flushed per line), root coordinates:
//!   `{"ev":"button","down":true,"button":1,"x":RX,"y":RY}`, `{"ev":"motion","x":RX,"y":RY}`,
//!   `{"ev":"key","down":true,"keycode":38,"state":1,"keysym":65,"text":"A"}`. `keysym` comes
//!   from xpaint's own copy of the keyboard mapping (re-read on MappingNotify) by the core
//!   protocol's rule (column 0, or column 1 with Shift or Lock; column 1 NoSymbol: column 0
//!   upper-cased for a letter); `text` is its character for Latin-1, Unicode keysyms,
//!   EuroSign, Return ("\n") and Tab ("\t"), else "". See `input.rs`
//! - `input-state`                  appends `{"ev":"state","keys":[KEYCODES],"buttons":MASK}`:
//!   the keycodes QueryKeymap reports down and the buttons QueryPointer does (bit 0 = button 1)
//! - `sync`                         just the round trip
//! - `quit`                         prints `ok` and exits
//!
//! Blank lines and lines starting with `#` are ignored (no reply).
//!
//! Input events are handled while xpaint waits for commands, and every event the server sent
//! before a command's round trip is logged before its `ok`: after `sync`, the log holds every
//! event caused by input that another client injected (and round-tripped) before.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::error::Error;
use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{
    ChangeGCAux, ConnectionExt, CreateGCAux, Drawable, FillStyle, Font, Gcontext, ImageFormat,
    ImageOrder, Rectangle, Window,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

mod input;
mod scene;

type Res<T> = Result<T, Box<dyn Error>>;

/// Upper bound for one PutImage request, below the server's maximum.
const MAX_PUT_BYTES: usize = 4 << 20;

struct Painter {
    conn: RustConnection,
    root: Window,
    depth: u8,
    width: u16,
    height: u16,
    gc: Gcontext,
    font: Font,
    font_ascent: i16,
    /// (shift, bits) for red, green, blue in a pixel value.
    masks: [(u32, u32); 3],
    /// PutImage / GetImage use 32 bits per pixel, LSB first (BGRX in memory).
    bgrx_ok: bool,
    max_put_bytes: usize,
    /// Events a round trip read, kept for the input referee.
    events: RefCell<VecDeque<Event>>,
}

fn mask_shift(mask: u32) -> (u32, u32) {
    if mask == 0 {
        return (0, 0);
    }
    (mask.trailing_zeros(), mask.count_ones())
}

impl Painter {
    fn connect(display: Option<&str>) -> Res<Self> {
        let (conn, screen_num) = x11rb::connect(display)?;
        let setup = conn.setup();
        let screen = &setup.roots[screen_num];
        let root = screen.root;
        let depth = screen.root_depth;
        let (width, height) = (screen.width_in_pixels, screen.height_in_pixels);
        let mut masks = [(16, 8), (8, 8), (0, 8)];
        for d in &screen.allowed_depths {
            for v in &d.visuals {
                if v.visual_id == screen.root_visual {
                    masks = [
                        mask_shift(v.red_mask),
                        mask_shift(v.green_mask),
                        mask_shift(v.blue_mask),
                    ];
                }
            }
        }
        let bpp32 = setup
            .pixmap_formats
            .iter()
            .any(|f| f.depth == depth && f.bits_per_pixel == 32);
        let bgrx_ok = bpp32
            && setup.image_byte_order == ImageOrder::LSB_FIRST
            && masks == [(16, 8), (8, 8), (0, 8)];
        let max_put_bytes = conn.maximum_request_bytes().min(MAX_PUT_BYTES);

        let font = conn.generate_id()?;
        conn.open_font(font, b"fixed")?;
        let gc = conn.generate_id()?;
        conn.create_gc(
            gc,
            root,
            &CreateGCAux::new()
                .foreground(0)
                .background(0)
                .font(font)
                .graphics_exposures(0),
        )?;
        let font_ascent = conn.query_font(font)?.reply()?.font_ascent;
        Ok(Painter {
            conn,
            root,
            depth,
            width,
            height,
            gc,
            font,
            font_ascent,
            masks,
            bgrx_ok,
            max_put_bytes,
            events: RefCell::new(VecDeque::new()),
        })
    }

    fn pixel(&self, rgb: u32) -> u32 {
        let comps = [(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff];
        let mut p = 0;
        for (c, (shift, bits)) in comps.iter().zip(self.masks) {
            if bits == 0 {
                continue;
            }
            let v = if bits >= 8 {
                c << (bits - 8)
            } else {
                c >> (8 - bits)
            };
            p |= v << shift;
        }
        p
    }

    /// Round trip, then report the first X error the server sent for this command, if any.
    fn monitor_atom(&self, name: &str) -> Res<u32> {
        Ok(self.conn.intern_atom(false, name.as_bytes())?.reply()?.atom)
    }

    fn set_monitor(&self, name: &str, x: i16, y: i16, width: u16, height: u16) -> Res<()> {
        use x11rb::protocol::randr::{ConnectionExt as _, MonitorInfo};
        self.conn.randr_query_version(1, 5)?.reply()?;
        let monitor = MonitorInfo {
            name: self.monitor_atom(name)?,
            primary: false,
            automatic: false,
            x,
            y,
            width,
            height,
            // 96 dpi, as the X server assumes without a real output.
            width_in_millimeters: (u32::from(width) * 254).div_ceil(960),
            height_in_millimeters: (u32::from(height) * 254).div_ceil(960),
            outputs: Vec::new(),
        };
        // Replaces one of the same name, as `xrandr --setmonitor` does (the server refuses a
        // second monitor of a name).
        let _ = self
            .conn
            .randr_delete_monitor(self.root, monitor.name)?
            .check();
        self.conn.randr_set_monitor(self.root, monitor)?.check()?;
        Ok(())
    }

    fn delete_monitor(&self, name: &str) -> Res<()> {
        use x11rb::protocol::randr::ConnectionExt as _;
        let atom = self.monitor_atom(name)?;
        self.conn.randr_delete_monitor(self.root, atom)?.check()?;
        Ok(())
    }

    fn sync(&self) -> Res<()> {
        self.conn.get_input_focus()?.reply()?;
        let mut first: Option<String> = None;
        while let Some(ev) = self.conn.poll_for_event()? {
            if let Event::Error(e) = ev {
                first.get_or_insert_with(|| format!("X error {:?}", e));
            } else {
                self.events.borrow_mut().push_back(ev);
            }
        }
        match first {
            Some(m) => Err(m.into()),
            None => Ok(()),
        }
    }

    fn fill(&self, x: i16, y: i16, w: u16, h: u16, rgb: u32) -> Res<()> {
        self.conn.change_gc(
            self.gc,
            &ChangeGCAux::new()
                .foreground(self.pixel(rgb))
                .fill_style(FillStyle::SOLID),
        )?;
        self.conn.poly_fill_rectangle(
            self.root,
            self.gc,
            &[Rectangle {
                x,
                y,
                width: w,
                height: h,
            }],
        )?;
        Ok(())
    }

    /// PutImage of a BGRX buffer (w*h*4 bytes), split into bands that fit one request.
    fn put_bgrx(&self, x: i16, y: i16, w: u16, h: u16, data: &[u8]) -> Res<()> {
        if !self.bgrx_ok {
            return Err("root visual is not 24-bit TrueColor at 32 bpp LSB-first".into());
        }
        let stride = w as usize * 4;
        if data.len() != stride * h as usize {
            return Err(
                format!("expected {} bytes, got {}", stride * h as usize, data.len()).into(),
            );
        }
        if w == 0 || h == 0 {
            return Ok(());
        }
        let rows_per = ((self.max_put_bytes - 64) / stride).clamp(1, h as usize);
        let mut row = 0usize;
        while row < h as usize {
            let n = rows_per.min(h as usize - row);
            self.conn.put_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                self.gc,
                w,
                n as u16,
                x,
                y + row as i16,
                0,
                self.depth,
                &data[row * stride..(row + n) * stride],
            )?;
            row += n;
        }
        Ok(())
    }

    fn noise(&self, x: i16, y: i16, w: u16, h: u16, seed: u64) -> Res<()> {
        let data = noise_bgrx(w as usize, h as usize, seed);
        self.put_bgrx(x, y, w, h, &data)
    }

    fn text(&self, x: i16, y: i16, rgb: u32, text: &[u8]) -> Res<()> {
        self.conn.change_gc(
            self.gc,
            &ChangeGCAux::new()
                .foreground(self.pixel(rgb))
                .fill_style(FillStyle::SOLID)
                .font(self.font),
        )?;
        // PolyText8 items: [len, delta, bytes...], at most 254 bytes per item.
        let mut items = Vec::with_capacity(text.len() + text.len() / 254 * 2 + 2);
        for chunk in text.chunks(254) {
            items.push(chunk.len() as u8);
            items.push(0);
            items.extend_from_slice(chunk);
        }
        if !items.is_empty() {
            self.conn
                .poly_text8(self.root, self.gc, x, y + self.font_ascent, &items)?;
        }
        Ok(())
    }

    fn dump(&self, x: i16, y: i16, w: u16, h: u16) -> Res<Vec<u8>> {
        self.get_bgrx(self.root, x, y, w, h)
    }

    /// Core GetImage of a window or pixmap as raw BGRX, in bands that fit a reply comfortably.
    fn get_bgrx(&self, from: Drawable, x: i16, y: i16, w: u16, h: u16) -> Res<Vec<u8>> {
        if !self.bgrx_ok {
            return Err("root visual is not 24-bit TrueColor at 32 bpp LSB-first".into());
        }
        let rows_per =
            ((self.max_put_bytes / 4) / (w as usize * 4).max(1)).clamp(1, h.max(1) as usize);
        let mut out = Vec::with_capacity(w as usize * h as usize * 4);
        let mut row = 0usize;
        while row < h as usize {
            let n = rows_per.min(h as usize - row);
            let r = self
                .conn
                .get_image(
                    ImageFormat::Z_PIXMAP,
                    from,
                    x,
                    y + row as i16,
                    w,
                    n as u16,
                    !0,
                )?
                .reply()?;
            out.extend_from_slice(&r.data);
            row += n;
        }
        let want = w as usize * h as usize * 4;
        if out.len() != want {
            return Err(format!("GetImage gave {} bytes, want {}", out.len(), want).into());
        }
        Ok(out)
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 4x4 blocks of pseudo-random colour; block (bx, by) colour depends only on seed, bx, by.
fn noise_bgrx(w: usize, h: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; w * h * 4];
    let bw = w.div_ceil(4);
    let mut row_colours = vec![[0u8; 4]; bw];
    for by in 0..h.div_ceil(4) {
        for (bx, c) in row_colours.iter_mut().enumerate() {
            let r = splitmix(seed ^ splitmix(((by as u64) << 32) | bx as u64));
            *c = [r as u8, (r >> 8) as u8, (r >> 16) as u8, 0];
        }
        for yy in by * 4..(by * 4 + 4).min(h) {
            let line = &mut data[yy * w * 4..(yy + 1) * w * 4];
            for (xx, px) in line.chunks_exact_mut(4).enumerate() {
                px.copy_from_slice(&row_colours[xx / 4]);
            }
        }
    }
    data
}

fn num<T: std::str::FromStr>(s: Option<&str>, what: &str) -> Res<T> {
    let s = s.ok_or_else(|| format!("missing {}", what))?;
    s.parse::<T>()
        .map_err(|_| format!("bad {} '{}'", what, s).into())
}

fn colour(s: Option<&str>) -> Res<u32> {
    let s = s.ok_or("missing colour")?;
    let t = s.trim_start_matches('#');
    if t.len() != 6 {
        return Err(format!("bad colour '{}' (want RRGGBB)", s).into());
    }
    u32::from_str_radix(t, 16).map_err(|_| format!("bad colour '{}' (want RRGGBB)", s).into())
}

/// Splits off the first `n` whitespace-separated words; returns them and the rest of the line.
fn split_words(line: &str, n: usize) -> (Vec<&str>, &str) {
    let mut words = Vec::with_capacity(n);
    let mut rest = line;
    for _ in 0..n {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        words.push(&rest[..end]);
        rest = &rest[end..];
    }
    // Exactly one separator before free text (so leading spaces of the text are kept).
    let rest = rest
        .strip_prefix(' ')
        .or_else(|| rest.strip_prefix('\t'))
        .unwrap_or(rest);
    (words, rest)
}

fn rect(w: &[&str]) -> Res<(i16, i16, u16, u16)> {
    let mut it = w.iter().copied();
    Ok((
        num(it.next(), "X")?,
        num(it.next(), "Y")?,
        num(it.next(), "W")?,
        num(it.next(), "H")?,
    ))
}

/// What the command loop should do after a command.
enum Next {
    Continue,
    Quit,
}

struct Input {
    rx: Receiver<String>,
    pending: VecDeque<String>,
    closed: bool,
}

/// What waiting for a command line gave.
enum Waited {
    Line(String),
    Nothing,
    Closed,
}

impl Input {
    /// The next command line, waiting at most `wait` for one.
    fn next_line_within(&mut self, wait: Duration) -> Waited {
        if let Some(l) = self.pending.pop_front() {
            return Waited::Line(l);
        }
        if self.closed {
            return Waited::Closed;
        }
        match self.rx.recv_timeout(wait) {
            Ok(l) => Waited::Line(l),
            Err(mpsc::RecvTimeoutError::Timeout) => Waited::Nothing,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.closed = true;
                Waited::Closed
            }
        }
    }

    /// Non-blocking check during an animation: true when it should stop (a `stop` line
    /// arrived, or stdin closed and `stop_on_eof`). Other lines are kept for later.
    fn should_stop(&mut self, stop_on_eof: bool) -> bool {
        if self.closed {
            return stop_on_eof;
        }
        loop {
            match self.rx.try_recv() {
                Ok(l) => {
                    if l.trim() == "stop" {
                        return true;
                    }
                    self.pending.push_back(l);
                }
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => {
                    self.closed = true;
                    return stop_on_eof;
                }
            }
        }
    }
}

/// What commands leave behind for later ones.
#[derive(Default)]
struct State {
    scene: Option<scene::Scene>,
    bounce: Option<Bounce>,
    input: input::Referee,
}

fn run_command(p: &Painter, line: &str, input: &mut Input, state: &mut State) -> Res<Next> {
    let (head, _) = split_words(line, 1);
    let cmd = head.first().copied().unwrap_or("");
    match cmd {
        "fill" => {
            let (w, _) = split_words(line, 6);
            let (x, y, ww, hh) = rect(&w[1..])?;
            p.fill(x, y, ww, hh, colour(w.get(5).copied())?)?;
        }
        "noise" => {
            let (w, _) = split_words(line, 6);
            let (x, y, ww, hh) = rect(&w[1..])?;
            p.noise(x, y, ww, hh, num(w.get(5).copied(), "SEED")?)?;
        }
        "text" => {
            let (w, rest) = split_words(line, 4);
            let x = num(w.get(1).copied(), "X")?;
            let y = num(w.get(2).copied(), "Y")?;
            let c = colour(w.get(3).copied())?;
            p.text(x, y, c, rest.as_bytes())?;
        }
        "image" => {
            let (w, rest) = split_words(line, 5);
            let (x, y, ww, hh) = rect(&w[1..])?;
            let path = rest.trim();
            if path.is_empty() {
                return Err("missing PATH".into());
            }
            let data = std::fs::read(path).map_err(|e| format!("{}: {}", path, e))?;
            p.put_bgrx(x, y, ww, hh, &data)?;
        }
        "dump" => {
            let (w, rest) = split_words(line, 5);
            let (x, y, ww, hh) = rect(&w[1..])?;
            let path = rest.trim();
            if path.is_empty() {
                return Err("missing PATH".into());
            }
            let data = p.dump(x, y, ww, hh)?;
            std::fs::write(path, data).map_err(|e| format!("{}: {}", path, e))?;
        }
        "play" => {
            let (w, _) = split_words(line, 4);
            let fps: f64 = num(w.get(1).copied(), "FPS")?;
            let scene = w.get(2).copied().ok_or("missing SCENE")?;
            let secs: f64 = num(w.get(3).copied(), "SECONDS")?;
            if !(fps > 0.0 && fps <= 1000.0) {
                return Err("FPS must be in (0, 1000]".into());
            }
            if !(secs >= 0.0 && secs.is_finite()) {
                return Err("SECONDS must be >= 0".into());
            }
            match scene {
                "bounce" => {
                    let bounce = match &mut state.bounce {
                        Some(b) => b,
                        empty => empty.insert(Bounce::setup(p)?),
                    };
                    bounce.play(p, fps, secs, input)?
                }
                other => return Err(format!("unknown scene '{}' (known: bounce)", other).into()),
            }
        }
        "scene" => {
            let (w, _) = split_words(line, 4);
            let name = w.get(1).copied().ok_or("missing NAME")?;
            let fps: f64 = num(w.get(2).copied(), "FPS")?;
            let secs: f64 = num(w.get(3).copied(), "SECONDS")?;
            if !(fps > 0.0 && fps <= 1000.0) {
                return Err("FPS must be in (0, 1000]".into());
            }
            if !(secs >= 0.0 && secs.is_finite()) {
                return Err("SECONDS must be >= 0".into());
            }
            let st = scene::run(p, &mut state.scene, name, fps, secs, input)?;
            // The reply stays a plain `ok` (what every driver expects); the figures go to stderr.
            eprintln!(
                "scene {} frames={} late={} setup_ms={}",
                name, st.frames, st.late, st.setup_ms
            );
        }
        "scene-restart" => {
            let state = state.scene.as_mut().ok_or("no scene has been set up")?;
            state.restart(p)?;
        }
        "scene-log" => {
            let path = line["scene-log".len()..].trim();
            if path.is_empty() {
                return Err("missing PATH".into());
            }
            let state = state.scene.as_ref().ok_or("no scene has been set up")?;
            std::fs::write(path, state.log_json()).map_err(|e| format!("{}: {}", path, e))?;
        }
        "scene-parts" => {
            let dir = line["scene-parts".len()..].trim();
            if dir.is_empty() {
                return Err("missing DIR".into());
            }
            let state = state.scene.as_ref().ok_or("no scene has been set up")?;
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {}", dir, e))?;
            for (name, data) in state.parts(p)? {
                let path = std::path::Path::new(dir).join(name);
                std::fs::write(&path, data).map_err(|e| format!("{}: {}", path.display(), e))?;
            }
        }
        "monitor" => {
            let (w, _) = split_words(line, 3);
            let name = w.get(1).ok_or("missing NAME")?;
            let geometry = w.get(2).ok_or("missing WxH+X+Y")?;
            let bad = || format!("bad geometry '{}' (want WxH+X+Y)", geometry);
            let (size, at) = geometry.split_once('+').ok_or_else(bad)?;
            let (ws, hs) = size.split_once('x').ok_or_else(bad)?;
            let (xs, ys) = at.split_once('+').ok_or_else(bad)?;
            let parsed = (
                ws.parse::<u16>(),
                hs.parse::<u16>(),
                xs.parse::<i16>(),
                ys.parse::<i16>(),
            );
            let (Ok(width), Ok(height), Ok(x), Ok(y)) = parsed else {
                return Err(bad().into());
            };
            p.set_monitor(name, x, y, width, height)?;
        }
        "monitor-delete" => {
            let name = line["monitor-delete".len()..].trim();
            p.delete_monitor(name)?;
        }
        "input-window" => {
            let (w, _) = split_words(line, 6);
            let (x, y, ww, hh) = rect(&w[1..])?;
            state
                .input
                .window(p, x, y, ww, hh, colour(w.get(5).copied())?)?;
        }
        "input-log" => {
            let path = line["input-log".len()..].trim();
            if path.is_empty() {
                return Err("missing PATH".into());
            }
            state.input.log_to(p, path)?;
        }
        "input-state" => state.input.state(p)?,
        "sync" => {}
        "quit" => return Ok(Next::Quit),
        "" => return Err("empty command".into()),
        other => return Err(format!("unknown command '{}'", other).into()),
    }
    Ok(Next::Continue)
}

struct Mover {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
    dx: i32,
    dy: i32,
    rgb: u32,
}

/// Rectangles bouncing over a static tiled background plus a line of changing text.
/// Only the areas that change are redrawn each frame. Set up (background drawn) by the first
/// `play`; a later `play` continues where the previous one stopped, so a test can hold the
/// picture still between runs of motion.
struct Bounce {
    movers: Vec<Mover>,
    frame: u64,
    bg_gc: Gcontext,
    fg_gc: Gcontext,
}

impl Bounce {
    fn setup(p: &Painter) -> Res<Self> {
        let (sw, sh) = (p.width as i32, p.height as i32);
        let conn = &p.conn;

        // Background tile: 64x64 of soft diagonal stripes and a grid, JPEG-friendly.
        const T: usize = 64;
        let mut tile = vec![0u8; T * T * 4];
        for y in 0..T {
            for x in 0..T {
                let i = (y * T + x) * 4;
                let band = ((x + y) / 16) % 2;
                let (r, g, b) = if x % 32 == 0 || y % 32 == 0 {
                    (90u8, 90u8, 110u8)
                } else if band == 0 {
                    (40, 48, 64)
                } else {
                    (52, 60, 80)
                };
                tile[i..i + 4].copy_from_slice(&[b, g, r, 0]);
            }
        }
        if !p.bgrx_ok {
            return Err("root visual is not 24-bit TrueColor at 32 bpp LSB-first".into());
        }
        let pix = conn.generate_id()?;
        conn.create_pixmap(p.depth, pix, p.root, T as u16, T as u16)?;
        conn.put_image(
            ImageFormat::Z_PIXMAP,
            pix,
            p.gc,
            T as u16,
            T as u16,
            0,
            0,
            0,
            p.depth,
            &tile,
        )?;
        let bg_gc = conn.generate_id()?;
        conn.create_gc(
            bg_gc,
            p.root,
            &CreateGCAux::new()
                .fill_style(FillStyle::TILED)
                .tile(pix)
                .graphics_exposures(0),
        )?;
        // The GC keeps the tile.
        conn.free_pixmap(pix)?;
        let fg_gc = conn.generate_id()?;
        conn.create_gc(
            fg_gc,
            p.root,
            &CreateGCAux::new()
                .font(p.font)
                .foreground(p.pixel(0xffffff))
                .background(p.pixel(0x101010))
                .graphics_exposures(0),
        )?;
        let full = Rectangle {
            x: 0,
            y: 0,
            width: p.width,
            height: p.height,
        };
        conn.poly_fill_rectangle(p.root, bg_gc, &[full])?;

        let scale = (sw.min(sh) / 8).max(8);
        let mut movers = [
            (0xe04040, 3, 2),
            (0x40c040, -2, 3),
            (0x4060f0, 4, -3),
            (0xf0c020, -3, -2),
        ]
        .iter()
        .enumerate()
        .map(|(i, &(rgb, dx, dy))| Mover {
            x: (sw / 5) * (i as i32 + 1) - scale / 2,
            y: (sh / 5) * (i as i32 + 1) - scale / 2,
            w: scale + 16 * i as i32,
            h: scale * 3 / 4,
            dx: dx * (sw / 640).max(1),
            dy: dy * (sh / 480).max(1),
            rgb,
        })
        .collect::<Vec<_>>();
        for m in &mut movers {
            m.w = m.w.min(sw);
            m.h = m.h.min(sh);
            m.x = m.x.clamp(0, sw - m.w);
            m.y = m.y.clamp(0, sh - m.h);
        }
        Ok(Self {
            movers,
            frame: 0,
            bg_gc,
            fg_gc,
        })
    }

    /// Moves every rectangle one step: erases the old positions with the background and
    /// draws the new ones, then the clock line.
    fn step(&mut self, p: &Painter) -> Res<()> {
        let (sw, sh) = (p.width as i32, p.height as i32);
        let conn = &p.conn;
        let mut erase = Vec::with_capacity(self.movers.len());
        for m in &mut self.movers {
            erase.push(Rectangle {
                x: m.x as i16,
                y: m.y as i16,
                width: m.w as u16,
                height: m.h as u16,
            });
            m.x += m.dx;
            m.y += m.dy;
            if m.x < 0 || m.x + m.w > sw {
                m.dx = -m.dx;
                m.x = m.x.clamp(0, sw - m.w);
            }
            if m.y < 0 || m.y + m.h > sh {
                m.dy = -m.dy;
                m.y = m.y.clamp(0, sh - m.h);
            }
        }
        conn.poly_fill_rectangle(p.root, self.bg_gc, &erase)?;
        for m in &self.movers {
            conn.change_gc(self.fg_gc, &ChangeGCAux::new().foreground(p.pixel(m.rgb)))?;
            conn.poly_fill_rectangle(
                p.root,
                self.fg_gc,
                &[Rectangle {
                    x: m.x as i16,
                    y: m.y as i16,
                    width: m.w as u16,
                    height: m.h as u16,
                }],
            )?;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let ms = now.as_millis() as u64;
        let line = format!(
            " frame {:>8}  {:02}:{:02}:{:02}.{:03} UTC ",
            self.frame,
            (ms / 3_600_000) % 24,
            (ms / 60_000) % 60,
            (ms / 1000) % 60,
            ms % 1000
        );
        conn.change_gc(
            self.fg_gc,
            &ChangeGCAux::new().foreground(p.pixel(0xffffff)),
        )?;
        let text_y = (sh - 20).max(0) as i16;
        conn.image_text8(
            p.root,
            self.fg_gc,
            8,
            text_y + p.font_ascent,
            line.as_bytes(),
        )?;
        p.sync()?;
        self.frame += 1;
        Ok(())
    }

    /// Animates at `fps` for `secs` (0: until `stop` or stdin closes).
    fn play(&mut self, p: &Painter, fps: f64, secs: f64, input: &mut Input) -> Res<()> {
        let period = Duration::from_secs_f64(1.0 / fps);
        let start = Instant::now();
        let end = (secs > 0.0).then(|| start + Duration::from_secs_f64(secs));
        let mut next = start;
        loop {
            self.step(p)?;
            if input.should_stop(end.is_none()) {
                return Ok(());
            }
            next += period;
            let now = Instant::now();
            if end.is_some_and(|e| now >= e) {
                return Ok(());
            }
            if next > now {
                std::thread::sleep(next - now);
            } else {
                // Late: re-anchor instead of bursting.
                next = now;
            }
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: xpaint [--display :N]   (commands on stdin; see source header)");
    std::process::exit(2);
}

fn main() {
    let mut display: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--display" | "-d" => display = Some(args.next().unwrap_or_else(|| usage())),
            s if s.starts_with("--display=") => display = Some(s["--display=".len()..].into()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let painter = match Painter::connect(display.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            let name = display
                .clone()
                .or_else(|| std::env::var("DISPLAY").ok())
                .unwrap_or_else(|| "(DISPLAY unset)".into());
            eprintln!("xpaint: cannot open display {}: {}", name, e);
            std::process::exit(1);
        }
    };

    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    let mut input = Input {
        rx,
        pending: VecDeque::new(),
        closed: false,
    };

    let stdout = std::io::stdout();
    let mut state = State::default();
    loop {
        // Input events are handled while waiting for a command.
        if let Err(e) = state.input.pump(&painter) {
            eprintln!("xpaint: input events: {}", e);
        }
        let line = match input.next_line_within(Duration::from_millis(10)) {
            Waited::Line(l) => l,
            Waited::Nothing => continue,
            Waited::Closed => break,
        };
        let line = line.trim_end_matches(['\r', '\n']);
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t == "stop" {
            continue;
        }
        let result = run_command(&painter, line, &mut input, &mut state).and_then(|n| {
            painter.sync()?;
            // Everything the round trip saw is logged before the reply.
            state.input.pump(&painter)?;
            Ok(n)
        });
        let mut out = stdout.lock();
        let quit = match result {
            Ok(Next::Continue) => {
                let _ = writeln!(out, "ok");
                false
            }

            Ok(Next::Quit) => {
                let _ = writeln!(out, "ok");
                true
            }
            Err(e) => {
                let msg = e.to_string().replace('\n', " ");
                let _ = writeln!(out, "error: {}", msg);
                // A lost connection cannot be recovered.
                painter.conn.get_input_focus().is_err()
            }
        };
        let _ = out.flush();
        if quit {
            break;
        }
    }
}
