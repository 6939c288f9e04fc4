//! Which key to press for a keysym, decided over a copy of the server's core keyboard mapping.
//! Pure: built from the replies of GetKeyboardMapping and GetModifierMapping.
//!
//! Only the first two columns of a keycode are used: column 0 (no modifier) and column 1
//! (Shift). A character reachable only at level 3 (AltGr) or in a second group is typed
//! through a spare keycode instead: which modifier gives level 3, and whether a client honours
//! it, depends on the layout and on the client (core protocol, Xlib with XKB, xkbcommon), while
//! a spare keycode mapped to the keysym alone means the same to every client.

use super::keysym::{case_pair, CAPS_LOCK, NO_SYMBOL, SHIFT_L};

/// The key that produces a keysym: press `keycode`, with Shift when `shift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub keycode: u8,
    pub shift: bool,
}

/// Modifier bit of Shift in the modifier mapping's order (Shift, Lock, Control, Mod1..Mod5).
const SHIFT: usize = 0;
/// Modifier bit of Lock.
const LOCK: usize = 1;

/// A copy of the core keyboard mapping and modifier mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    min_keycode: u8,
    per: usize,
    syms: Vec<u32>,
    /// For each of the 8 modifiers, the keycodes that set it.
    modifiers: [Vec<u8>; 8],
}

impl Keymap {
    /// `syms` holds `keysyms_per_keycode` keysyms for each keycode from `min_keycode` on (the
    /// GetKeyboardMapping reply); `modifier_keycodes` holds `keycodes_per_modifier` keycodes
    /// for each of the 8 modifiers, 0 for none (the GetModifierMapping reply).
    pub fn new(
        min_keycode: u8,
        keysyms_per_keycode: u8,
        syms: Vec<u32>,
        keycodes_per_modifier: u8,
        modifier_keycodes: &[u8],
    ) -> Self {
        let mut modifiers: [Vec<u8>; 8] = Default::default();
        let n = usize::from(keycodes_per_modifier);
        if n > 0 {
            for (i, chunk) in modifier_keycodes.chunks(n).take(8).enumerate() {
                modifiers[i] = chunk.iter().copied().filter(|&k| k != 0).collect();
            }
        }
        Keymap {
            min_keycode,
            per: usize::from(keysyms_per_keycode).max(1),
            syms,
            modifiers,
        }
    }

    /// The keycodes the mapping covers.
    pub fn keycodes(&self) -> impl Iterator<Item = u8> + '_ {
        let count = self.syms.len() / self.per;
        (0..count).map(move |i| self.min_keycode.saturating_add(i as u8))
    }

    /// The keysyms of a keycode (empty when outside the mapping).
    pub fn row(&self, keycode: u8) -> &[u32] {
        let Some(i) = keycode.checked_sub(self.min_keycode) else {
            return &[];
        };
        let start = usize::from(i) * self.per;
        self.syms.get(start..start + self.per).unwrap_or(&[])
    }

    /// Columns 0 and 1 of a keycode as clients read them: a second column that is NoSymbol
    /// repeats the first, or is its upper case for a letter (the core protocol's rule).
    pub fn levels(&self, keycode: u8) -> (u32, u32) {
        let row = self.row(keycode);
        let c0 = row.first().copied().unwrap_or(NO_SYMBOL);
        let c1 = row.get(1).copied().unwrap_or(NO_SYMBOL);
        if c1 != NO_SYMBOL {
            return (c0, c1);
        }
        match case_pair(c0) {
            Some(pair) => pair,
            None => (c0, c0),
        }
    }

    /// The key for `keysym`: a keycode carrying it in column 0 (preferred, so no Shift), else
    /// in column 1 (with Shift). Keycodes in `avoid` are skipped. `None` when it is on no key
    /// at these levels.
    pub fn plan(&self, keysym: u32, avoid: &[u8]) -> Option<Plan> {
        if keysym == NO_SYMBOL {
            return None;
        }
        let usable = || self.keycodes().filter(|k| !avoid.contains(k));
        if let Some(keycode) = usable().find(|&k| self.levels(k).0 == keysym) {
            return Some(Plan {
                keycode,
                shift: false,
            });
        }
        usable()
            .find(|&k| self.levels(k).1 == keysym)
            .map(|keycode| Plan {
                keycode,
                shift: true,
            })
    }

    /// The first of `keysyms` that is on a key (see [`Keymap::plan`]).
    pub fn plan_any(&self, keysyms: &[u32], avoid: &[u8]) -> Option<Plan> {
        keysyms.iter().find_map(|&ks| self.plan(ks, avoid))
    }

    /// The keycode to press for Shift: one carrying Shift_L that sets the Shift modifier, else
    /// any keycode that sets it.
    pub fn shift_keycode(&self) -> Option<u8> {
        let shift = &self.modifiers[SHIFT];
        shift
            .iter()
            .copied()
            .find(|&k| self.row(k).first() == Some(&SHIFT_L))
            .or_else(|| shift.first().copied())
    }

    /// The keycode that toggles Lock as Caps Lock (carries Caps_Lock and sets Lock).
    pub fn caps_lock_keycode(&self) -> Option<u8> {
        self.modifiers[LOCK]
            .iter()
            .copied()
            .find(|&k| self.row(k).first() == Some(&CAPS_LOCK))
    }

    /// Whether `keycode` sets the Shift modifier.
    pub fn is_shift(&self, keycode: u8) -> bool {
        self.modifiers[SHIFT].contains(&keycode)
    }

    /// Keycodes free for our own use: every keysym NoSymbol and no modifier set by them.
    /// Highest first: the low ones are more likely to be real keys somewhere.
    pub fn spare_keycodes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self
            .keycodes()
            .filter(|&k| self.row(k).iter().all(|&s| s == NO_SYMBOL))
            .filter(|k| !self.modifiers.iter().any(|m| m.contains(k)))
            .collect();
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::keysym::{keysym_by_name, keysym_candidates, keysym_for_char};

    /// A mapping from rows of keysym names (`""` = NoSymbol), 4 per keycode, from keycode 8.
    fn map(rows: &[(u8, &[&str])], modifiers: &[(usize, u8)]) -> Keymap {
        let max = rows.iter().map(|r| r.0).max().unwrap();
        let per = 4usize;
        let mut syms = vec![0u32; (usize::from(max) - 8 + 1) * per];
        for (kc, names) in rows {
            for (i, n) in names.iter().enumerate() {
                let ks = match *n {
                    "" => 0,
                    "EuroSign" => 0x20ac,
                    "eacute" => 0xe9,
                    "egrave" => 0xe8,
                    "ampersand" => 0x26,
                    "at" => 0x40,
                    n => keysym_by_name(n).unwrap(),
                };
                syms[(usize::from(*kc) - 8) * per + i] = ks;
            }
        }
        let mut mods = vec![0u8; 8 * 2];
        let mut fill = [0usize; 8];
        for &(m, kc) in modifiers {
            mods[m * 2 + fill[m]] = kc;
            fill[m] += 1;
        }
        Keymap::new(8, per as u8, syms, 2, &mods)
    }

    fn us() -> Keymap {
        map(
            &[
                (10, &["1", "!", "1", "!"]),
                (11, &["2", "@", "2", "@"]),
                (26, &["e", "E", "e", "E"]),
                (38, &["a", "A", "a", "A"]),
                (54, &["c", "C", "c", "C"]),
                (36, &["Return", "", "Return"]),
                (50, &["Shift_L", "", "Shift_L"]),
                (62, &["Shift_R", "", "Shift_R"]),
                (37, &["Control_L", "", "Control_L"]),
                (64, &["Alt_L", "Meta_L", "Alt_L", "Meta_L"]),
                (65, &["space", "", "space"]),
                (92, &["ISO_Level3_Shift", "", "ISO_Level3_Shift"]),
                (66, &["Caps_Lock", "", "Caps_Lock"]),
                (204, &["", "Alt_L", "", "Alt_L"]),
                // A row listing only a lower-case letter: Shift gives its upper case.
                (30, &["u"]),
            ],
            &[
                (0, 50),
                (0, 62),
                (1, 66),
                (2, 37),
                (3, 64),
                (3, 204),
                (7, 92),
            ],
        )
    }

    /// Like the French AZERTY layout: é unshifted, digits with Shift, € only at level 3.
    fn fr() -> Keymap {
        map(
            &[
                (10, &["ampersand", "1", "", ""]),
                (11, &["eacute", "2", "", ""]),
                (16, &["egrave", "7", "", ""]),
                (24, &["a", "A", "", ""]),
                (26, &["e", "E", "EuroSign", ""]),
                (19, &["à", "0", "at", ""]),
                (50, &["Shift_L", "", "", ""]),
                (37, &["Control_L", "", "", ""]),
                (92, &["ISO_Level3_Shift", "", "", ""]),
            ],
            &[(0, 50), (2, 37), (7, 92)],
        )
    }

    fn plan(k: &Keymap, c: char) -> Option<(u8, bool)> {
        k.plan_any(&keysym_candidates(c), &[])
            .map(|p| (p.keycode, p.shift))
    }

    #[test]
    fn us_like() {
        let k = us();
        assert_eq!(plan(&k, 'a'), Some((38, false)));
        assert_eq!(plan(&k, 'A'), Some((38, true)));
        assert_eq!(plan(&k, '2'), Some((11, false)));
        assert_eq!(plan(&k, '@'), Some((11, true)));
        assert_eq!(plan(&k, ' '), Some((65, false)));
        assert_eq!(plan(&k, '\n'), Some((36, false)));
        assert_eq!(plan(&k, 'u'), Some((30, false)));
        assert_eq!(plan(&k, 'U'), Some((30, true)));
        assert_eq!(plan(&k, 'é'), None);
        assert_eq!(plan(&k, '€'), None);
        // Column 0 anywhere wins over column 1: Alt_L is 64, not the Shift level of 204.
        assert_eq!(
            k.plan(keysym_by_name("Alt_L").unwrap(), &[])
                .map(|p| p.keycode),
            Some(64)
        );
        assert_eq!(
            k.plan(keysym_by_name("Meta_L").unwrap(), &[]),
            Some(Plan {
                keycode: 64,
                shift: true
            })
        );
        assert_eq!(k.shift_keycode(), Some(50));
        assert!(k.is_shift(62) && !k.is_shift(37));
        assert_eq!(k.caps_lock_keycode(), Some(66));
        // Avoided keycodes are skipped.
        assert_eq!(k.plan(0x61, &[38]), None);
    }

    #[test]
    fn fr_like() {
        let k = fr();
        assert_eq!(plan(&k, 'é'), Some((11, false)));
        assert_eq!(plan(&k, '2'), Some((11, true)));
        assert_eq!(plan(&k, '&'), Some((10, false)));
        assert_eq!(plan(&k, 'à'), Some((19, false)));
        assert_eq!(plan(&k, 'a'), Some((24, false)));
        assert_eq!(plan(&k, 'E'), Some((26, true)));
        // Level 3 only: not planned, typed through a spare keycode.
        assert_eq!(plan(&k, '€'), None);
        assert_eq!(plan(&k, '@'), None);
        assert_eq!(k.shift_keycode(), Some(50));
    }

    #[test]
    fn unicode_spelling_on_a_key() {
        // A layout may carry a Latin-1 letter as its Unicode keysym.
        let mut k = us();
        let row = usize::from(30u8 - 8) * 4;
        k.syms[row] = 0x0100_00f6;
        k.syms[row + 1] = 0x0100_00d6;
        assert_eq!(plan(&k, 'ö'), Some((30, false)));
        assert_eq!(plan(&k, 'Ö'), Some((30, true)));
        assert_eq!(keysym_for_char('ö'), 0xf6);
    }

    #[test]
    fn spares() {
        let k = us();
        let spares = k.spare_keycodes();
        // Empty rows only, highest first; 204 has a keysym in column 1 and is a modifier.
        assert!(spares.windows(2).all(|w| w[0] > w[1]));
        assert!(spares.contains(&203) && spares.contains(&8) && spares.contains(&100));
        assert_eq!(spares[0], 203);
        for used in [10, 11, 26, 30, 36, 38, 50, 204] {
            assert!(!spares.contains(&used), "{used}");
        }
        let k = fr();
        assert!(!k.spare_keycodes().contains(&19));
        assert_eq!(k.caps_lock_keycode(), None);
    }

    #[test]
    fn levels_rule() {
        let k = us();
        assert_eq!(k.levels(30), (0x75, 0x55));
        assert_eq!(k.levels(36), (0xff0d, 0xff0d));
        assert_eq!(k.levels(8), (0, 0));
        assert_eq!(k.row(7), &[] as &[u32]);
        assert_eq!(k.row(255), &[] as &[u32]);
    }
}
