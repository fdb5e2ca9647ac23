//! Unwind-table registration for JIT code, grouped so that unwinding stays
//! fast.
//!
//! A PostgreSQL `ERROR` inside embedded PGlite is a WebAssembly exception
//! that wasmer unwinds with the system unwinder (libgcc). wasmer registers
//! the unwind tables of the PGlite module one function at a time (~14,000
//! `__register_frame` calls), and libgcc before GCC 13 keeps registered
//! tables in a linked list that every frame lookup walks: each failing
//! statement (an unknown column, a duplicate key, an RLS refusal) cost about
//! a millisecond of unwinding, 75 % of the server's CPU under an error
//! flood, so errors ran at a tenth of the rate of valid reads.
//!
//! This executable therefore defines `__register_frame` and
//! `__deregister_frame` itself (wasmer's and wasmtime's calls bind to these),
//! passes each registration on to libgcc and, every [`CHUNK`] of them,
//! replaces them by one table (`__register_frame_table`: an array of
//! `.eh_frame` sequences that libgcc sorts once and binary-searches). A
//! deregistered sequence leaves its table at once (the table is
//! re-registered without it), so libgcc never holds a sequence whose code
//! has been freed. Where libgcc is not the unwinder (LLVM's libunwind takes
//! single FDEs), everything passes through unchanged.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::{Mutex, OnceLock};

/// Registrations grouped into one table.
const CHUNK: usize = 256;

type FrameFn = unsafe extern "C" fn(*const u8);

/// libgcc's own functions.
struct Libgcc {
    register: FrameFn,
    deregister: FrameFn,
    /// `None`: not libgcc's unwinder, pass everything through.
    register_table: Option<FrameFn>,
}

fn libgcc() -> &'static Libgcc {
    static REAL: OnceLock<Libgcc> = OnceLock::new();
    REAL.get_or_init(|| {
        let next = |name: &CStr| {
            // SAFETY: dlsym with a NUL-terminated name.
            let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
            // SAFETY: these symbols are functions taking one pointer.
            (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut libc::c_void, FrameFn>(p) })
        };
        // SAFETY: as above.
        let libunwind = unsafe {
            !libc::dlsym(libc::RTLD_DEFAULT, c"__unw_add_dynamic_fde".as_ptr()).is_null()
        };
        Libgcc {
            register: next(c"__register_frame").expect("the unwinder's __register_frame"),
            deregister: next(c"__deregister_frame").expect("the unwinder's __deregister_frame"),
            register_table: next(c"__register_frame_table").filter(|_| !libunwind),
        }
    })
}

/// What is registered, by the address of each `.eh_frame` sequence.
#[derive(Default)]
struct Frames {
    /// Registered one by one (fewer than CHUNK).
    loose: Vec<usize>,
    /// Registered tables (by the address of their array) and their members.
    tables: HashMap<usize, (Box<[usize]>, Vec<usize>)>,
    /// Which table a sequence is in.
    member_of: HashMap<usize, usize>,
}

static FRAMES: Mutex<Option<Frames>> = Mutex::new(None);

impl Frames {
    /// Registers `members` as one table with libgcc; returns its key.
    fn add_table(&mut self, register_table: FrameFn, members: Vec<usize>) {
        let array: Box<[usize]> = members.iter().copied().chain([0]).collect();
        let key = array.as_ptr() as usize;
        // SAFETY: a NUL-terminated array of registered `.eh_frame`
        // sequences, kept alive (boxed) until it is deregistered.
        unsafe { register_table(array.as_ptr().cast()) };
        for m in &members {
            self.member_of.insert(*m, key);
        }
        self.tables.insert(key, (array, members));
    }
}

/// `__register_frame` as libgcc defines it: `begin` is a `.eh_frame`
/// sequence (CIEs and FDEs up to a zero terminator).
///
/// # Safety
/// `begin` must point to such a sequence that stays valid until it is
/// deregistered, as for libgcc's function.
#[no_mangle]
pub unsafe extern "C" fn __register_frame(begin: *const u8) {
    let gcc = libgcc();
    // SAFETY: the caller's pointer, passed on as it came.
    unsafe { (gcc.register)(begin) };
    let Some(register_table) = gcc.register_table else {
        return;
    };
    // An empty sequence is not registered by libgcc either.
    // SAFETY: a sequence starts with a 4-byte length.
    if begin.is_null() || unsafe { begin.cast::<u32>().read_unaligned() } == 0 {
        return;
    }
    let mut guard = FRAMES.lock().unwrap_or_else(|p| p.into_inner());
    let frames = guard.get_or_insert_with(Frames::default);
    frames.loose.push(begin as usize);
    if frames.loose.len() >= CHUNK {
        let members = std::mem::take(&mut frames.loose);
        // The table first, then the single registrations: every sequence
        // stays findable throughout.
        frames.add_table(register_table, members.clone());
        for m in members {
            // SAFETY: registered above, one by one.
            unsafe { (gcc.deregister)(m as *const u8) };
        }
    }
}

/// `__deregister_frame` for a sequence given to [`__register_frame`].
///
/// # Safety
/// As libgcc's: `begin` was registered and is not registered twice.
#[no_mangle]
pub unsafe extern "C" fn __deregister_frame(begin: *const u8) {
    let gcc = libgcc();
    let mut guard = FRAMES.lock().unwrap_or_else(|p| p.into_inner());
    let (Some(register_table), Some(frames)) = (gcc.register_table, guard.as_mut()) else {
        drop(guard);
        // SAFETY: passed on as it came.
        return unsafe { (gcc.deregister)(begin) };
    };
    let key = begin as usize;
    if let Some(i) = frames.loose.iter().position(|m| *m == key) {
        frames.loose.swap_remove(i);
    } else if let Some(table) = frames.member_of.remove(&key) {
        let (array, members) = frames
            .tables
            .remove(&table)
            .expect("a table of its members");
        let rest: Vec<usize> = members.into_iter().filter(|m| *m != key).collect();
        if !rest.is_empty() {
            frames.add_table(register_table, rest);
        }
        // SAFETY: the table registered by add_table; libgcc frees its
        // record of it, then the array goes.
        unsafe { (gcc.deregister)(array.as_ptr().cast()) };
        return;
    }
    drop(guard);
    // SAFETY: a single registration (ours or one from before).
    unsafe { (gcc.deregister)(begin) };
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" {
        /// libgcc's lookup: the FDE covering `pc`, or null.
        fn _Unwind_Find_FDE(pc: *const u8, bases: *mut [usize; 3]) -> *const u8;
    }

    /// One `.eh_frame` sequence: a CIE and an FDE covering
    /// `[start, start + len)` (absolute pointers), then the terminator.
    fn sequence(start: usize, len: usize) -> Vec<u8> {
        let mut cie = Vec::new();
        cie.extend(0u32.to_le_bytes()); // CIE id
        cie.push(1); // version
        cie.extend(b"zR\0"); // augmentation
        cie.push(1); // code alignment factor
        cie.push(0x78); // data alignment factor (-8)
        cie.push(16); // return address register
        cie.push(1); // augmentation data length
        cie.push(0x00); // FDE pointer encoding: absolute
        while (cie.len() + 4) % 8 != 0 {
            cie.push(0); // DW_CFA_nop
        }
        let mut out = Vec::new();
        out.extend((cie.len() as u32).to_le_bytes());
        out.extend(&cie);
        let fde_start = out.len();
        let mut fde = Vec::new();
        fde.extend(((fde_start + 4) as u32).to_le_bytes()); // back to the CIE
        fde.extend(start.to_le_bytes());
        fde.extend(len.to_le_bytes());
        fde.push(0); // augmentation data length
        while (fde.len() + 4) % 8 != 0 {
            fde.push(0);
        }
        out.extend((fde.len() as u32).to_le_bytes());
        out.extend(&fde);
        out.extend(0u32.to_le_bytes());
        out
    }

    fn find(pc: usize) -> Option<usize> {
        let mut bases = [0usize; 3];
        // SAFETY: libgcc's lookup with room for its bases.
        let fde = unsafe { _Unwind_Find_FDE(pc as *const u8, &mut bases) };
        (!fde.is_null()).then_some(fde as usize)
    }

    #[test]
    fn registered_sequences_are_found_grouped_and_gone_once_deregistered() {
        // Fake code addresses far from anything real.
        let base = 0x7e00_0000_0000usize;
        let n = CHUNK * 2 + 17;
        let seqs: Vec<Vec<u8>> = (0..n).map(|i| sequence(base + i * 0x100, 0x80)).collect();
        for s in &seqs {
            // SAFETY: valid sequences, alive until deregistered below.
            unsafe { __register_frame(s.as_ptr()) };
        }
        // Other tests may register code at the same time: count ours.
        let ours = |f: &Frames| {
            let loose = seqs
                .iter()
                .filter(|s| f.loose.contains(&(s.as_ptr() as usize)))
                .count();
            let grouped = seqs
                .iter()
                .filter(|s| f.member_of.contains_key(&(s.as_ptr() as usize)))
                .count();
            (loose, grouped)
        };
        if libgcc().register_table.is_some() {
            let (loose, grouped) = ours(FRAMES.lock().unwrap().as_ref().unwrap());
            assert_eq!(loose + grouped, n);
            assert!(loose < CHUNK, "{loose} registered one by one");
        }
        // Each address finds the FDE of its own sequence (8 bytes past its
        // CIE's 4-byte length and body), none between the ranges.
        for (i, s) in seqs.iter().enumerate() {
            let fde = find(base + i * 0x100 + 0x40).unwrap_or_else(|| panic!("sequence {i}"));
            let cie_len = u32::from_le_bytes(s[..4].try_into().unwrap()) as usize;
            assert_eq!(fde, s.as_ptr() as usize + 4 + cie_len, "sequence {i}");
            assert_eq!(find(base + i * 0x100 + 0xc0), None);
        }
        // Deregistered (in wasmer's reverse order, and one from the middle
        // first): nothing is found any more and every table is gone.
        let middle = n / 3;
        // SAFETY: registered above.
        unsafe { __deregister_frame(seqs[middle].as_ptr()) };
        assert_eq!(find(base + middle * 0x100 + 0x40), None);
        assert!(find(base + (middle + 1) * 0x100 + 0x40).is_some());
        for (i, s) in seqs.iter().enumerate().rev() {
            if i != middle {
                // SAFETY: registered above, once.
                unsafe { __deregister_frame(s.as_ptr()) };
            }
        }
        for i in 0..n {
            assert_eq!(find(base + i * 0x100 + 0x40), None, "sequence {i}");
        }
        if let Some(f) = FRAMES.lock().unwrap().as_ref() {
            assert_eq!(ours(f), (0, 0));
            // No table holds a sequence that was deregistered.
            for (_, members) in f.tables.values() {
                assert!(members
                    .iter()
                    .all(|m| seqs.iter().all(|s| s.as_ptr() as usize != *m)));
            }
        }
    }
}
