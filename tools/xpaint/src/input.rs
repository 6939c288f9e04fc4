//! The input referee: a window that logs the key, button and motion events it receives, with
//! the text of each key decoded here from xpaint's own copy of the keyboard mapping (by the core
//! protocol's rule), independently of the code that injected them.

use std::fs::{File, OpenOptions};
use std::io::Write;

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt, CreateGCAux, CreateWindowAux, EventMask, InputFocus, Mapping, Rectangle, Window,
    WindowClass,
};
use x11rb::protocol::Event;
use x11rb::CURRENT_TIME;

use crate::{Painter, Res};

/// Keyboard mapping as GetKeyboardMapping reports it.
struct CoreMap {
    min: u8,
    per: usize,
    syms: Vec<u32>,
}

impl CoreMap {
    fn read(p: &Painter) -> Res<Self> {
        let setup = p.conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let r = p.conn.get_keyboard_mapping(min, max - min + 1)?.reply()?;
        Ok(CoreMap {
            min,
            per: usize::from(r.keysyms_per_keycode),
            syms: r.keysyms,
        })
    }

    /// The keysym of `keycode` under modifier `state`: column 0, or column 1 with Shift or Lock
    /// (column 1 NoSymbol: column 0, upper-cased when it is a letter).
    fn keysym(&self, keycode: u8, state: u16) -> u32 {
        let Some(i) = keycode.checked_sub(self.min) else {
            return 0;
        };
        let at = |col: usize| {
            if col >= self.per {
                return 0;
            }
            self.syms
                .get(usize::from(i) * self.per + col)
                .copied()
                .unwrap_or(0)
        };
        let (c0, c1) = (at(0), at(1));
        if state & 0x3 == 0 {
            return c0;
        }
        if c1 != 0 {
            return c1;
        }
        upper(c0)
    }
}

/// The character a keysym stands for: Latin-1, Unicode keysyms, EuroSign, Return, Tab.
fn text_of(ks: u32) -> Option<char> {
    match ks {
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(ks),
        0x0100_0000..=0x0110_ffff => char::from_u32(ks - 0x0100_0000),
        0x20ac => Some('€'),
        0xff0d => Some('\n'),
        0xff09 => Some('\t'),
        _ => None,
    }
}

/// Upper case of a letter keysym (the keysym itself otherwise).
fn upper(ks: u32) -> u32 {
    let Some(c) = text_of(ks) else { return ks };
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) if u != c => {
            let cp = u as u32;
            if (0xa0..=0xff).contains(&cp) || (0x20..=0x7e).contains(&cp) {
                cp
            } else {
                0x0100_0000 | cp
            }
        }
        _ => ks,
    }
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct InputWindow {
    win: Window,
    gc: u32,
    width: u16,
    /// Characters drawn so far (the next character cell).
    cells: u32,
}

/// The input window, the log and the keyboard mapping copy.
#[derive(Default)]
pub struct Referee {
    window: Option<InputWindow>,
    log: Option<File>,
    keymap: Option<CoreMap>,
}

/// Character cells of typed text: 8x16 pixels from (10, 10), each showing a 6x12 block.
const CELL_W: u32 = 8;
const CELL_H: u32 = 16;

impl Referee {
    /// `input-window X Y W H RRGGBB`: (re)creates the window, maps it, waits until it is
    /// exposed and gives it the input focus.
    pub fn window(&mut self, p: &Painter, x: i16, y: i16, w: u16, h: u16, rgb: u32) -> Res<()> {
        if w == 0 || h == 0 {
            return Err("W and H must be at least 1".into());
        }
        if let Some(old) = self.window.take() {
            p.conn.free_gc(old.gc)?;
            p.conn.destroy_window(old.win)?;
        }
        let win = p.conn.generate_id()?;
        p.conn.create_window(
            p.depth,
            win,
            p.root,
            x,
            y,
            w,
            h,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new()
                .background_pixel(p.pixel(rgb))
                .override_redirect(1)
                .event_mask(
                    EventMask::KEY_PRESS
                        | EventMask::KEY_RELEASE
                        | EventMask::BUTTON_PRESS
                        | EventMask::BUTTON_RELEASE
                        | EventMask::POINTER_MOTION
                        | EventMask::EXPOSURE,
                ),
        )?;
        let gc = p.conn.generate_id()?;
        p.conn
            .create_gc(gc, win, &CreateGCAux::new().graphics_exposures(0))?;
        p.conn.map_window(win)?;
        p.conn.flush()?;
        // Drawn once the server exposed it; other events wait in the queue for the loop.
        loop {
            let ev = p.conn.wait_for_event()?;
            if let Event::Expose(e) = &ev {
                if e.window == win && e.count == 0 {
                    break;
                }
            }
            if let Event::Error(e) = &ev {
                return Err(format!("X error {:?}", e).into());
            }
            p.events.borrow_mut().push_back(ev);
        }
        p.conn
            .set_input_focus(InputFocus::PARENT, win, CURRENT_TIME)?;
        if self.keymap.is_none() {
            self.keymap = Some(CoreMap::read(p)?);
        }
        self.window = Some(InputWindow {
            win,
            gc,
            width: w,
            cells: 0,
        });
        Ok(())
    }

    /// `input-log PATH`: appends one JSON line per event to PATH from now on.
    pub fn log_to(&mut self, p: &Painter, path: &str) -> Res<()> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {}", path, e))?;
        self.log = Some(f);
        if self.keymap.is_none() {
            self.keymap = Some(CoreMap::read(p)?);
        }
        Ok(())
    }

    /// `input-state`: the keys and buttons the server reports down, as a log line.
    pub fn state(&mut self, p: &Painter) -> Res<()> {
        if self.log.is_none() {
            return Err("no input-log set".into());
        }
        // Events sent before now are logged before the state.
        p.sync()?;
        self.pump(p)?;
        let keymap = p.conn.query_keymap()?.reply()?;
        let mut keys = Vec::new();
        for (byte, bits) in keymap.keys.iter().enumerate() {
            for bit in 0..8 {
                if bits & (1 << bit) != 0 {
                    keys.push((byte * 8 + bit).to_string());
                }
            }
        }
        let pointer = p.conn.query_pointer(p.root)?.reply()?;
        let buttons = (u16::from(pointer.mask) & 0x1f00) >> 8;
        self.write(&format!(
            r#"{{"ev":"state","keys":[{}],"buttons":{}}}"#,
            keys.join(","),
            buttons
        ))
    }

    /// Handles every event received so far: those a round trip queued, then the socket's.
    pub fn pump(&mut self, p: &Painter) -> Res<()> {
        loop {
            let queued = p.events.borrow_mut().pop_front();
            let ev = match queued {
                Some(ev) => ev,
                None => match p.conn.poll_for_event()? {
                    Some(ev) => ev,
                    None => {
                        // What the events drew must reach the server now, not with the next
                        // command: the tests and the click bench wait for those pixels.
                        p.conn.flush()?;
                        return Ok(());
                    }
                },
            };
            self.handle(p, ev)?;
        }
    }

    fn write(&mut self, line: &str) -> Res<()> {
        if let Some(f) = &mut self.log {
            f.write_all(format!("{}\n", line).as_bytes())?;
            f.flush()?;
        }
        Ok(())
    }

    fn handle(&mut self, p: &Painter, ev: Event) -> Res<()> {
        let ours = |w: Window| self.window.as_ref().is_some_and(|iw| iw.win == w);
        match ev {
            Event::MappingNotify(m) if m.request == Mapping::KEYBOARD && self.keymap.is_some() => {
                self.keymap = Some(CoreMap::read(p)?);
            }
            Event::ButtonPress(e) | Event::ButtonRelease(e) if ours(e.event) => {
                let down = e.response_type & 0x7f == x11rb::protocol::xproto::BUTTON_PRESS_EVENT;
                self.write(&format!(
                    r#"{{"ev":"button","down":{},"button":{},"x":{},"y":{}}}"#,
                    down, e.detail, e.root_x, e.root_y
                ))?;
                let colour = match e.detail {
                    1 => Some(0xff0000),
                    2 => Some(0x00ff00),
                    3 => Some(0x0000ff),
                    _ => None,
                };
                if let (true, Some(rgb), Some(w)) = (down, colour, &self.window) {
                    p.conn.change_gc(
                        w.gc,
                        &x11rb::protocol::xproto::ChangeGCAux::new().foreground(p.pixel(rgb)),
                    )?;
                    p.conn.poly_fill_rectangle(
                        w.win,
                        w.gc,
                        &[Rectangle {
                            x: e.event_x - 4,
                            y: e.event_y - 4,
                            width: 9,
                            height: 9,
                        }],
                    )?;
                }
            }
            Event::MotionNotify(e) if ours(e.event) => {
                self.write(&format!(
                    r#"{{"ev":"motion","x":{},"y":{}}}"#,
                    e.root_x, e.root_y
                ))?;
            }
            Event::KeyPress(e) | Event::KeyRelease(e) if ours(e.event) => {
                let down = e.response_type & 0x7f == x11rb::protocol::xproto::KEY_PRESS_EVENT;
                let state = u16::from(e.state);
                let keysym = self
                    .keymap
                    .as_ref()
                    .map_or(0, |k| k.keysym(e.detail, state));
                let text: String = text_of(keysym).map(String::from).unwrap_or_default();
                self.write(&format!(
                    r#"{{"ev":"key","down":{},"keycode":{},"state":{},"keysym":{},"text":{}}}"#,
                    down,
                    e.detail,
                    state,
                    keysym,
                    json_str(&text)
                ))?;
                if let (true, false, Some(w)) = (down, text.is_empty(), &mut self.window) {
                    let cols = (u32::from(w.width).saturating_sub(20) / CELL_W).max(1);
                    let (col, line) = (w.cells % cols, w.cells / cols);
                    w.cells += 1;
                    p.conn.change_gc(
                        w.gc,
                        &x11rb::protocol::xproto::ChangeGCAux::new().foreground(p.pixel(0xffff00)),
                    )?;
                    p.conn.poly_fill_rectangle(
                        w.win,
                        w.gc,
                        &[Rectangle {
                            x: (10 + col * CELL_W) as i16,
                            y: (10 + line * CELL_H) as i16,
                            width: 6,
                            height: 12,
                        }],
                    )?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        let map = CoreMap {
            min: 8,
            per: 2,
            // keycode 8: a A; 9: e (single); 10: 1 exclam; 11: EuroSign; 12: Unicode ö
            syms: vec![0x61, 0x41, 0x65, 0, 0x31, 0x21, 0x20ac, 0, 0x0100_00f6, 0],
        };
        assert_eq!(map.keysym(8, 0), 0x61);
        assert_eq!(map.keysym(8, 1), 0x41);
        assert_eq!(map.keysym(9, 1), 0x45);
        assert_eq!(map.keysym(9, 2), 0x45);
        assert_eq!(map.keysym(10, 4), 0x31);
        assert_eq!(map.keysym(10, 5), 0x21);
        assert_eq!(map.keysym(12, 1), 0xd6);
        assert_eq!(text_of(map.keysym(11, 0)), Some('€'));
        assert_eq!(text_of(0xe9), Some('é'));
        assert_eq!(text_of(0xffe1), None);
        assert_eq!(json_str("a\"\\\n\u{1}é"), "\"a\\\"\\\\\\n\\u0001é\"");
    }
}
