//! X keysyms for characters and key names. Pure: no I/O.
//!
//! A keysym is what a key means (X11 protocol, appendix A). Characters have two spellings: the
//! legacy one (Latin-1 is the code point itself, other scripts have their own ranges) that
//! keyboard layouts mostly carry, and the Unicode one, `0x0100_0000 | code point`, which Xlib
//! and xkbcommon both understand for any character.

/// `NoSymbol`: an empty place in a keyboard mapping.
pub const NO_SYMBOL: u32 = 0;

/// Offset of the Unicode keysyms.
const UNICODE: u32 = 0x0100_0000;

/// Keysyms of the keys a layout commonly carries for characters outside Latin-1, with the
/// character each stands for. Latin-2 letters sit at 0x100 + their ISO 8859-2 byte.
const LEGACY: &[(u32, char)] = &[
    (0x20ac, '€'),
    (0x13bc, 'Œ'),
    (0x13bd, 'œ'),
    (0x13be, 'Ÿ'),
    (0x1a1, 'Ą'),
    (0x1a2, '˘'),
    (0x1a3, 'Ł'),
    (0x1a5, 'Ľ'),
    (0x1a6, 'Ś'),
    (0x1a9, 'Š'),
    (0x1aa, 'Ş'),
    (0x1ab, 'Ť'),
    (0x1ac, 'Ź'),
    (0x1ae, 'Ž'),
    (0x1af, 'Ż'),
    (0x1b1, 'ą'),
    (0x1b2, '˛'),
    (0x1b3, 'ł'),
    (0x1b5, 'ľ'),
    (0x1b6, 'ś'),
    (0x1b7, 'ˇ'),
    (0x1b9, 'š'),
    (0x1ba, 'ş'),
    (0x1bb, 'ť'),
    (0x1bc, 'ź'),
    (0x1bd, '˝'),
    (0x1be, 'ž'),
    (0x1bf, 'ż'),
    (0x1c0, 'Ŕ'),
    (0x1c3, 'Ă'),
    (0x1c5, 'Ĺ'),
    (0x1c6, 'Ć'),
    (0x1c8, 'Č'),
    (0x1ca, 'Ę'),
    (0x1cc, 'Ě'),
    (0x1cf, 'Ď'),
    (0x1d0, 'Đ'),
    (0x1d1, 'Ń'),
    (0x1d2, 'Ň'),
    (0x1d5, 'Ő'),
    (0x1d8, 'Ř'),
    (0x1d9, 'Ů'),
    (0x1db, 'Ű'),
    (0x1de, 'Ţ'),
    (0x1e0, 'ŕ'),
    (0x1e3, 'ă'),
    (0x1e5, 'ĺ'),
    (0x1e6, 'ć'),
    (0x1e8, 'č'),
    (0x1ea, 'ę'),
    (0x1ec, 'ě'),
    (0x1ef, 'ď'),
    (0x1f0, 'đ'),
    (0x1f1, 'ń'),
    (0x1f2, 'ň'),
    (0x1f5, 'ő'),
    (0x1f8, 'ř'),
    (0x1f9, 'ů'),
    (0x1fb, 'ű'),
    (0x1fe, 'ţ'),
    (0x1ff, '˙'),
];

pub const RETURN: u32 = 0xff0d;
pub const TAB: u32 = 0xff09;
pub const BACKSPACE: u32 = 0xff08;
pub const SHIFT_L: u32 = 0xffe1;
pub const CAPS_LOCK: u32 = 0xffe5;

/// Keys that type no character, by X keysym name and by the DOM `KeyboardEvent.key` name a
/// browser sends for them.
const NAMED: &[(&str, u32)] = &[
    ("BackSpace", 0xff08),
    ("Backspace", 0xff08),
    ("Tab", 0xff09),
    ("Linefeed", 0xff0a),
    ("Clear", 0xff0b),
    ("Return", 0xff0d),
    ("Enter", 0xff0d),
    ("Pause", 0xff13),
    ("Scroll_Lock", 0xff14),
    ("ScrollLock", 0xff14),
    ("Sys_Req", 0xff15),
    ("Escape", 0xff1b),
    ("Delete", 0xffff),
    ("Home", 0xff50),
    ("Left", 0xff51),
    ("ArrowLeft", 0xff51),
    ("Up", 0xff52),
    ("ArrowUp", 0xff52),
    ("Right", 0xff53),
    ("ArrowRight", 0xff53),
    ("Down", 0xff54),
    ("ArrowDown", 0xff54),
    ("Prior", 0xff55),
    ("Page_Up", 0xff55),
    ("PageUp", 0xff55),
    ("Next", 0xff56),
    ("Page_Down", 0xff56),
    ("PageDown", 0xff56),
    ("End", 0xff57),
    ("Begin", 0xff58),
    ("Select", 0xff60),
    ("Print", 0xff61),
    ("PrintScreen", 0xff61),
    ("Execute", 0xff62),
    ("Insert", 0xff63),
    ("Undo", 0xff65),
    ("Redo", 0xff66),
    ("Menu", 0xff67),
    ("ContextMenu", 0xff67),
    ("Find", 0xff68),
    ("Cancel", 0xff69),
    ("Help", 0xff6a),
    ("Break", 0xff6b),
    ("Mode_switch", 0xff7e),
    ("Num_Lock", 0xff7f),
    ("NumLock", 0xff7f),
    ("KP_Space", 0xff80),
    ("KP_Tab", 0xff89),
    ("KP_Enter", 0xff8d),
    ("KP_Home", 0xff95),
    ("KP_Left", 0xff96),
    ("KP_Up", 0xff97),
    ("KP_Right", 0xff98),
    ("KP_Down", 0xff99),
    ("KP_Prior", 0xff9a),
    ("KP_Page_Up", 0xff9a),
    ("KP_Next", 0xff9b),
    ("KP_Page_Down", 0xff9b),
    ("KP_End", 0xff9c),
    ("KP_Begin", 0xff9d),
    ("KP_Insert", 0xff9e),
    ("KP_Delete", 0xff9f),
    ("KP_Equal", 0xffbd),
    ("KP_Multiply", 0xffaa),
    ("KP_Add", 0xffab),
    ("KP_Separator", 0xffac),
    ("KP_Subtract", 0xffad),
    ("KP_Decimal", 0xffae),
    ("KP_Divide", 0xffaf),
    ("KP_0", 0xffb0),
    ("KP_1", 0xffb1),
    ("KP_2", 0xffb2),
    ("KP_3", 0xffb3),
    ("KP_4", 0xffb4),
    ("KP_5", 0xffb5),
    ("KP_6", 0xffb6),
    ("KP_7", 0xffb7),
    ("KP_8", 0xffb8),
    ("KP_9", 0xffb9),
    ("Shift_L", 0xffe1),
    ("Shift", 0xffe1),
    ("Shift_R", 0xffe2),
    ("Control_L", 0xffe3),
    ("Control", 0xffe3),
    ("Control_R", 0xffe4),
    ("Caps_Lock", 0xffe5),
    ("CapsLock", 0xffe5),
    ("Shift_Lock", 0xffe6),
    ("Meta_L", 0xffe7),
    ("Meta_R", 0xffe8),
    ("Alt_L", 0xffe9),
    ("Alt", 0xffe9),
    ("Alt_R", 0xffea),
    ("Super_L", 0xffeb),
    // Chromium and Firefox on Linux report the Super ("Windows") key as `Meta`.
    ("Meta", 0xffeb),
    ("OS", 0xffeb),
    ("Super_R", 0xffec),
    ("Hyper_L", 0xffed),
    ("Hyper_R", 0xffee),
    ("ISO_Level3_Shift", 0xfe03),
    ("AltGraph", 0xfe03),
    ("space", 0x20),
    ("Space", 0x20),
];

/// The keysym that types `c`: Return, Tab and BackSpace for their control characters,
/// Latin-1 as itself, a legacy keysym where layouts carry one, else the Unicode keysym.
pub fn keysym_for_char(c: char) -> u32 {
    match c {
        '\n' | '\r' => RETURN,
        '\t' => TAB,
        '\u{8}' => BACKSPACE,
        '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => c as u32,
        _ => LEGACY
            .iter()
            .find(|(_, ch)| *ch == c)
            .map_or(UNICODE | c as u32, |(ks, _)| *ks),
    }
}

/// Every keysym a layout might use for `c`, the preferred first: the one of
/// [`keysym_for_char`], then the Unicode spelling when that differs.
pub fn keysym_candidates(c: char) -> Vec<u32> {
    let first = keysym_for_char(c);
    let unicode = UNICODE | c as u32;
    if first == unicode || (c as u32) < 0x20 {
        vec![first]
    } else {
        vec![first, unicode]
    }
}

/// The character a keysym types, if any (the reverse of [`keysym_for_char`]).
pub fn char_for_keysym(ks: u32) -> Option<char> {
    match ks {
        RETURN => Some('\n'),
        TAB => Some('\t'),
        BACKSPACE => Some('\u{8}'),
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(ks),
        k if k & 0xff00_0000 == UNICODE => char::from_u32(k & 0x00ff_ffff),
        _ => LEGACY.iter().find(|(k, _)| *k == ks).map(|(_, c)| *c),
    }
}

/// The keysym of a key name: an X keysym name (`Return`, `Page_Down`, `F5`, `KP_7`...), a DOM
/// `KeyboardEvent.key` name (`Enter`, `ArrowLeft`, `AltGraph`...) or a single character.
pub fn keysym_by_name(name: &str) -> Option<u32> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(keysym_for_char(c));
    }
    if let Some(&(_, ks)) = NAMED.iter().find(|(n, _)| *n == name) {
        return Some(ks);
    }
    // F1..F35 are consecutive keysyms.
    let n: u32 = name.strip_prefix('F')?.parse().ok()?;
    (1..=35).contains(&n).then(|| 0xffbe + n - 1)
}

/// The lower- and upper-case keysyms of a letter (the core protocol's rule for a keycode
/// that lists one keysym); `None` for a keysym without case.
pub fn case_pair(ks: u32) -> Option<(u32, u32)> {
    let c = char_for_keysym(ks)?;
    let lower = single(c.to_lowercase())?;
    let upper = single(c.to_uppercase())?;
    (lower != upper).then(|| (keysym_for_char(lower), keysym_for_char(upper)))
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters() {
        assert_eq!(keysym_for_char('a'), 0x61);
        assert_eq!(keysym_for_char('~'), 0x7e);
        assert_eq!(keysym_for_char(' '), 0x20);
        assert_eq!(keysym_for_char('é'), 0xe9);
        assert_eq!(keysym_for_char('ÿ'), 0xff);
        assert_eq!(keysym_for_char('\u{a0}'), 0xa0);
        assert_eq!(keysym_for_char('\n'), RETURN);
        assert_eq!(keysym_for_char('\r'), RETURN);
        assert_eq!(keysym_for_char('\t'), TAB);
        assert_eq!(keysym_for_char('\u{8}'), BACKSPACE);
        assert_eq!(keysym_for_char('€'), 0x20ac);
        assert_eq!(keysym_for_char('œ'), 0x13bd);
        assert_eq!(keysym_for_char('Œ'), 0x13bc);
        assert_eq!(keysym_for_char('ł'), 0x1b3);
        assert_eq!(keysym_for_char('ž'), 0x1be);
        assert_eq!(keysym_for_char('日'), 0x0100_65e5);
        assert_eq!(keysym_for_char('😀'), 0x0101_f600);
        // A control character without a key of its own is its Unicode keysym.
        assert_eq!(keysym_for_char('\u{1}'), 0x0100_0001);
    }

    #[test]
    fn reverse() {
        for c in [
            'a', 'Z', ' ', 'é', '€', 'œ', 'ł', 'Ž', '日', '😀', '\n', '\t',
        ] {
            assert_eq!(char_for_keysym(keysym_for_char(c)), Some(c), "{c:?}");
        }
        assert_eq!(char_for_keysym(0x0100_00e9), Some('é'));
        assert_eq!(char_for_keysym(0xffe1), None);
        assert_eq!(char_for_keysym(0), None);
        assert_eq!(keysym_candidates('é'), vec![0xe9, 0x0100_00e9]);
        assert_eq!(keysym_candidates('€'), vec![0x20ac, 0x0100_20ac]);
        assert_eq!(keysym_candidates('日'), vec![0x0100_65e5]);
        assert_eq!(keysym_candidates('\n'), vec![RETURN]);
    }

    #[test]
    fn names() {
        assert_eq!(keysym_by_name("Return"), Some(0xff0d));
        assert_eq!(keysym_by_name("Enter"), Some(0xff0d));
        assert_eq!(keysym_by_name("BackSpace"), Some(0xff08));
        assert_eq!(keysym_by_name("Backspace"), Some(0xff08));
        assert_eq!(keysym_by_name("ArrowLeft"), Some(0xff51));
        assert_eq!(keysym_by_name("Left"), Some(0xff51));
        assert_eq!(keysym_by_name("PageDown"), Some(0xff56));
        assert_eq!(keysym_by_name("Page_Down"), Some(0xff56));
        assert_eq!(keysym_by_name("Next"), Some(0xff56));
        assert_eq!(keysym_by_name("F1"), Some(0xffbe));
        assert_eq!(keysym_by_name("F12"), Some(0xffc9));
        assert_eq!(keysym_by_name("F24"), Some(0xffd5));
        assert_eq!(keysym_by_name("F0"), None);
        assert_eq!(keysym_by_name("F36"), None);
        assert_eq!(keysym_by_name("Control"), Some(0xffe3));
        assert_eq!(keysym_by_name("Control_R"), Some(0xffe4));
        assert_eq!(keysym_by_name("AltGraph"), Some(0xfe03));
        assert_eq!(keysym_by_name("Meta"), Some(0xffeb));
        assert_eq!(keysym_by_name("Meta_L"), Some(0xffe7));
        assert_eq!(keysym_by_name("KP_7"), Some(0xffb7));
        assert_eq!(keysym_by_name("KP_Enter"), Some(0xff8d));
        assert_eq!(keysym_by_name(" "), Some(0x20));
        assert_eq!(keysym_by_name("a"), Some(0x61));
        assert_eq!(keysym_by_name("€"), Some(0x20ac));
        assert_eq!(keysym_by_name("Nope"), None);
        assert_eq!(keysym_by_name(""), None);
    }

    #[test]
    fn cases() {
        assert_eq!(case_pair(0x61), Some((0x61, 0x41)));
        assert_eq!(case_pair(0x41), Some((0x61, 0x41)));
        assert_eq!(case_pair(0xe9), Some((0xe9, 0xc9)));
        assert_eq!(case_pair(0x1b3), Some((0x1b3, 0x1a3)));
        assert_eq!(case_pair(0x31), None);
        assert_eq!(case_pair(0xff0d), None);
        // ß upper-cases to two letters: no pair.
        assert_eq!(case_pair(0xdf), None);
    }
}
