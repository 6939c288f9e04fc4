//! The injector: one X connection of its own that sends XTEST fake input and keeps a copy of
//! the keyboard mapping (re-read whenever the server announces a change, so `setxkbmap`
//! mid-session is followed without reopening).

use std::collections::VecDeque;

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt as _, KeyButMask, Mapping, Window, BUTTON_PRESS_EVENT, BUTTON_RELEASE_EVENT,
    KEY_PRESS_EVENT, KEY_RELEASE_EVENT, MOTION_NOTIFY_EVENT,
};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

use super::keymap::{Keymap, Plan};
use super::keysym::{keysym_candidates, keysym_for_char, NO_SYMBOL};
use super::InputError;

/// A key this injector pressed and holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeldKey {
    keysym: u32,
    keycode: u8,
    /// Its press also pressed Shift, which its release releases.
    with_shift: bool,
}

/// What an injector holds down: keysyms and buttons, in the order pressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    pub keys: Vec<u32>,
    pub buttons: Vec<u8>,
}

/// Spare keycodes (empty rows of the mapping) lent to keysyms that are on no key.
#[derive(Debug, Default)]
struct Spares {
    /// Empty rows not lent yet.
    free: Vec<u8>,
    /// Lent ones with their keysym, least recently used first.
    lent: VecDeque<(u8, u32)>,
}

fn lost(e: impl std::fmt::Display) -> InputError {
    InputError::Lost(e.to_string())
}

/// Injects input into an X display through XTEST. Coordinates are root window (screen) pixels.
pub struct InputInjector {
    conn: RustConnection,
    root: Window,
    display: String,
    screen: (u32, u32),
    keymap: Keymap,
    keys: Vec<HeldKey>,
    buttons: Vec<u8>,
    spares: Spares,
}

impl InputInjector {
    /// Connects to `display` (default `$DISPLAY`) and checks for XTEST.
    pub fn open(display: Option<&str>) -> Result<Self, InputError> {
        let (conn, screen_num, name) =
            crate::xdisplay::connect(display).map_err(|f| InputError::Open {
                display: f.display,
                reason: f.reason,
            })?;
        let screen = &conn.setup().roots[screen_num];
        let root = screen.root;
        let size = (
            u32::from(screen.width_in_pixels),
            u32::from(screen.height_in_pixels),
        );
        let has_xtest = conn
            .xtest_get_version(2, 2)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some();
        if !has_xtest {
            return Err(InputError::NoXtest { display: name });
        }
        let keymap = read_keymap(&conn)?;
        let spares = Spares {
            free: keymap.spare_keycodes(),
            lent: VecDeque::new(),
        };
        Ok(InputInjector {
            conn,
            root,
            display: name,
            screen: size,
            keymap,
            keys: Vec::new(),
            buttons: Vec::new(),
            spares,
        })
    }

    /// The display name connected to.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The screen size in pixels, as the server announced it when this connection opened.
    pub fn screen_size(&self) -> (u32, u32) {
        self.screen
    }

    /// The keyboard mapping as last read.
    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    /// Moves the pointer to (`x`, `y`) on the screen.
    pub fn pointer_move(&mut self, x: i32, y: i32) -> Result<(), InputError> {
        let (x, y) = (clamp16(x), clamp16(y));
        self.fake(MOTION_NOTIFY_EVENT, 0, x, y)?;
        self.round_trip()
    }

    /// Presses (`down`) or releases button `n` (1 left, 2 middle, 3 right, 4-7 wheel, 8-9).
    pub fn button(&mut self, n: u8, down: bool) -> Result<(), InputError> {
        self.button_event(n, down)?;
        self.round_trip()
    }

    fn button_event(&mut self, n: u8, down: bool) -> Result<(), InputError> {
        if down {
            self.fake(BUTTON_PRESS_EVENT, n, 0, 0)?;
            if !self.buttons.contains(&n) {
                self.buttons.push(n);
            }
        } else {
            // Sent even when not held here: the server ignores the release of a button that is
            // up, and a button left down by someone else is released as asked.
            self.fake(BUTTON_RELEASE_EVENT, n, 0, 0)?;
            self.buttons.retain(|&b| b != n);
        }
        Ok(())
    }

    /// Wheel steps: `dy` > 0 scrolls down (button 5 per step), < 0 up (4); `dx` > 0 right (7),
    /// < 0 left (6).
    pub fn scroll(&mut self, dx: i32, dy: i32) -> Result<(), InputError> {
        for (d, neg, pos) in [(dy, 4u8, 5u8), (dx, 6, 7)] {
            let b = if d < 0 { neg } else { pos };
            for _ in 0..d.unsigned_abs() {
                self.fake(BUTTON_PRESS_EVENT, b, 0, 0)?;
                self.fake(BUTTON_RELEASE_EVENT, b, 0, 0)?;
            }
        }
        self.round_trip()
    }

    /// Presses (`down`) or releases the key for `keysym`. A keysym at the Shift level of its key
    /// is pressed with Shift (unless Shift is down already); its release releases what its press
    /// pressed. A keysym on no key is put on a spare keycode. Releasing a keysym this injector
    /// does not hold does nothing.
    pub fn key(&mut self, keysym: u32, down: bool) -> Result<(), InputError> {
        self.take_events()?;
        if down {
            if let Some(held) = self.keys.iter().find(|k| k.keysym == keysym).copied() {
                // Held already: a repeat, as a held key autorepeats.
                self.fake(KEY_PRESS_EVENT, held.keycode, 0, 0)?;
            } else {
                let plan = self.plan(&[keysym])?;
                // Shift held through key('Shift_L') is the caller's; Shift pressed for a
                // keysym is shared by every held key that needs it, and released with the last.
                let with_shift = plan.shift && !self.user_shift_down();
                let shift = if with_shift && !self.keys.iter().any(|k| k.with_shift) {
                    Some(self.shift_keycode(keysym)?)
                } else {
                    None
                };
                if let Some(s) = shift {
                    self.fake(KEY_PRESS_EVENT, s, 0, 0)?;
                }
                self.fake(KEY_PRESS_EVENT, plan.keycode, 0, 0)?;
                self.keys.push(HeldKey {
                    keysym,
                    keycode: plan.keycode,
                    with_shift,
                });
            }
        } else if let Some(i) = self.keys.iter().position(|k| k.keysym == keysym) {
            let held = self.keys.remove(i);
            self.release_key(held)?;
        }
        self.round_trip()
    }

    fn release_key(&mut self, held: HeldKey) -> Result<(), InputError> {
        self.fake(KEY_RELEASE_EVENT, held.keycode, 0, 0)?;
        // Shift stays down while another key that needs it is held, or while the caller
        // holds a Shift key of its own.
        if held.with_shift && !self.keys.iter().any(|k| k.with_shift) && !self.user_shift_down() {
            if let Some(s) = self.keymap.shift_keycode() {
                self.fake(KEY_RELEASE_EVENT, s, 0, 0)?;
            }
        }
        Ok(())
    }

    /// Types `text`: each character pressed and released, with Shift exactly when its key
    /// needs it (Shift held through [`InputInjector::key`] is lifted for a character that
    /// needs none, then pressed again). Characters on no key at levels 1-2 go through spare
    /// keycodes.
    pub fn type_text(&mut self, text: &str) -> Result<(), InputError> {
        self.take_events()?;
        // Caps Lock on would turn letters to the other case, and clients disagree on what
        // Shift+Lock means: it is switched off while typing and on again after.
        let caps = self.caps_lock_on()?;
        if let Some(k) = caps {
            self.tap(k)?;
        }
        let typed = self.type_chars(text);
        if let Some(k) = caps {
            self.tap(k)?;
        }
        typed?;
        self.round_trip()
    }

    /// The Caps Lock keycode when the Lock modifier is on now.
    fn caps_lock_on(&self) -> Result<Option<u8>, InputError> {
        let Some(k) = self.keymap.caps_lock_keycode() else {
            return Ok(None);
        };
        let state = self
            .conn
            .query_pointer(self.root)
            .map_err(lost)?
            .reply()
            .map_err(lost)?
            .mask;
        Ok((u16::from(state) & u16::from(KeyButMask::LOCK) != 0).then_some(k))
    }

    fn tap(&self, keycode: u8) -> Result<(), InputError> {
        self.fake(KEY_PRESS_EVENT, keycode, 0, 0)?;
        self.fake(KEY_RELEASE_EVENT, keycode, 0, 0)
    }

    fn type_chars(&mut self, text: &str) -> Result<(), InputError> {
        for c in text.chars() {
            // A remapped spare makes the server announce a new mapping; read it before
            // planning the next character.
            self.take_events()?;
            let (plan, spare) = match self.keymap_plan(&keysym_candidates(c)) {
                Some(p) => (p, false),
                None => (self.spare_for(keysym_for_char(c))?, true),
            };
            // The Shift keys down now, by our own key() presses.
            let shifts: Vec<u8> = self.shifts_down();
            let mut pressed_shift = None;
            let mut lifted = Vec::new();
            if !spare && plan.shift && shifts.is_empty() {
                let s = self.shift_keycode(keysym_for_char(c))?;
                self.fake(KEY_PRESS_EVENT, s, 0, 0)?;
                pressed_shift = Some(s);
            } else if !spare && !plan.shift && !shifts.is_empty() {
                for &s in &shifts {
                    self.fake(KEY_RELEASE_EVENT, s, 0, 0)?;
                }
                lifted = shifts;
            }
            self.fake(KEY_PRESS_EVENT, plan.keycode, 0, 0)?;
            self.fake(KEY_RELEASE_EVENT, plan.keycode, 0, 0)?;
            if let Some(s) = pressed_shift {
                self.fake(KEY_RELEASE_EVENT, s, 0, 0)?;
            }
            for s in lifted {
                self.fake(KEY_PRESS_EVENT, s, 0, 0)?;
            }
        }
        Ok(())
    }

    /// Releases every key (Shift it pressed included) and button this injector holds.
    pub fn release_all(&mut self) -> Result<(), InputError> {
        while let Some(held) = self.keys.pop() {
            self.release_key(held)?;
        }
        while let Some(b) = self.buttons.pop() {
            self.fake(BUTTON_RELEASE_EVENT, b, 0, 0)?;
        }
        self.round_trip()
    }

    /// What this injector holds down now.
    pub fn held(&self) -> Held {
        Held {
            keys: self.keys.iter().map(|k| k.keysym).collect(),
            buttons: self.buttons.clone(),
        }
    }

    /// Releases all, then puts every spare keycode still lent back to NoSymbol.
    pub fn close(&mut self) -> Result<(), InputError> {
        self.release_all()?;
        self.take_events()?;
        for (keycode, _) in std::mem::take(&mut self.spares.lent) {
            self.conn
                .change_keyboard_mapping(1, keycode, 1, &[NO_SYMBOL])
                .map_err(lost)?;
            self.spares.free.push(keycode);
        }
        self.round_trip()
    }

    /// The key for the first of `keysyms` on the map, else a spare keycode for the first.
    fn plan(&mut self, keysyms: &[u32]) -> Result<Plan, InputError> {
        match self.keymap_plan(keysyms) {
            Some(p) => Ok(p),
            None => self.spare_for(keysyms[0]),
        }
    }

    /// A key of the layout for one of `keysyms` (spare keycodes we lent are not the layout's).
    fn keymap_plan(&self, keysyms: &[u32]) -> Option<Plan> {
        let lent: Vec<u8> = self.spares.lent.iter().map(|l| l.0).collect();
        self.keymap.plan_any(keysyms, &lent)
    }

    /// A spare keycode carrying `keysym` in both columns, so that Shift does not matter: the
    /// one already lent to it, else an unused one, else the least recently used one that is not
    /// held down. Reusing the least recently used keeps a mapping in place as long as possible,
    /// for clients that look the mapping up only when they handle the key event.
    fn spare_for(&mut self, keysym: u32) -> Result<Plan, InputError> {
        let plan = |keycode| Plan {
            keycode,
            shift: false,
        };
        if let Some(i) = self.spares.lent.iter().position(|l| l.1 == keysym) {
            let entry = self.spares.lent.remove(i).expect("index from position");
            self.spares.lent.push_back(entry);
            return Ok(plan(entry.0));
        }
        let keycode = match self.spares.free.first().copied() {
            Some(k) => {
                self.spares.free.remove(0);
                k
            }
            None => {
                let held: Vec<u8> = self.keys.iter().map(|k| k.keycode).collect();
                let i = self
                    .spares
                    .lent
                    .iter()
                    .position(|l| !held.contains(&l.0))
                    .ok_or(InputError::NoSpareKeycode { keysym })?;
                self.spares.lent.remove(i).expect("index from position").0
            }
        };
        self.conn
            .change_keyboard_mapping(1, keycode, 2, &[keysym, keysym])
            .map_err(lost)?;
        self.spares.lent.push_back((keycode, keysym));
        Ok(plan(keycode))
    }

    fn shift_keycode(&self, keysym: u32) -> Result<u8, InputError> {
        self.keymap
            .shift_keycode()
            .ok_or(InputError::NoShift { keysym })
    }

    /// Shift keycodes down because of this injector.
    fn shifts_down(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self
            .keys
            .iter()
            .filter(|k| self.keymap.is_shift(k.keycode))
            .map(|k| k.keycode)
            .collect();
        if self.keys.iter().any(|k| k.with_shift) {
            if let Some(s) = self.keymap.shift_keycode() {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    /// Whether the caller holds a Shift key through [`InputInjector::key`].
    fn user_shift_down(&self) -> bool {
        self.keys.iter().any(|k| self.keymap.is_shift(k.keycode))
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<(), InputError> {
        self.conn
            .xtest_fake_input(kind, detail, 0, self.root, x, y, 0)
            .map_err(lost)?;
        Ok(())
    }

    /// Handles what the server sent: a new keyboard or modifier mapping is read again (our own
    /// spare remaps included); an X error is returned.
    fn take_events(&mut self) -> Result<(), InputError> {
        let mut remapped = false;
        let mut error = None;
        while let Some(ev) = self.conn.poll_for_event().map_err(lost)? {
            match ev {
                Event::MappingNotify(m)
                    if m.request == Mapping::KEYBOARD || m.request == Mapping::MODIFIER =>
                {
                    remapped = true
                }
                Event::Error(e) => {
                    error.get_or_insert_with(|| format!("{:?}", e.error_kind));
                }
                _ => {}
            }
        }
        if remapped {
            self.keymap = read_keymap(&self.conn)?;
            // A lent keycode stays ours while it still carries our keysym; a new layout
            // (setxkbmap) may have taken it back.
            let keymap = &self.keymap;
            self.spares
                .lent
                .retain(|&(k, ks)| keymap.row(k).first() == Some(&ks));
            let lent: Vec<u8> = self.spares.lent.iter().map(|l| l.0).collect();
            self.spares.free = keymap
                .spare_keycodes()
                .into_iter()
                .filter(|k| !lent.contains(k))
                .collect();
        }
        match error {
            Some(e) => Err(InputError::Protocol(e)),
            None => Ok(()),
        }
    }

    /// A round trip: when it returns, the server has processed everything sent before.
    fn round_trip(&mut self) -> Result<(), InputError> {
        self.conn
            .get_input_focus()
            .map_err(lost)?
            .reply()
            .map_err(lost)?;
        self.take_events()
    }
}

impl Drop for InputInjector {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn clamp16(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

fn read_keymap(conn: &RustConnection) -> Result<Keymap, InputError> {
    let setup = conn.setup();
    let (min, max) = (setup.min_keycode, setup.max_keycode);
    let map = conn
        .get_keyboard_mapping(min, max - min + 1)
        .map_err(lost)?
        .reply()
        .map_err(lost)?;
    let mods = conn
        .get_modifier_mapping()
        .map_err(lost)?
        .reply()
        .map_err(lost)?;
    let per_mod = (mods.keycodes.len() / 8) as u8;
    Ok(Keymap::new(
        min,
        map.keysyms_per_keycode,
        map.keysyms,
        per_mod,
        &mods.keycodes,
    ))
}
