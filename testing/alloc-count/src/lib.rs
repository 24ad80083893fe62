//! A counting global allocator for tests that prove a hot path allocates nothing.
//!
//! Linking this crate (as a dev-dependency, `use starling_alloc_count as _;` or a call to
//! [`allocations`]) installs [`Counting`] as the test binary's `#[global_allocator]`. It forwards
//! every call to [`System`] and, while [`allocations`] runs its closure, counts the allocations
//! and reallocations made *on the calling thread*, so tests running on other threads cannot
//! disturb the number.
//!
//! ```
//! let (len, n) = starling_alloc_count::allocations(|| Vec::<u8>::with_capacity(16).capacity());
//! assert_eq!((len, n), (16, 1));
//! ```
//!
//! The workspace denies `unsafe_code` (`deny`, not `forbid`, so that this crate can lift it):
//! a `GlobalAlloc` impl is unsafe by definition. Nothing else here is.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

/// The allocator: [`System`] plus a per-thread counter.
#[derive(Debug)]
pub struct Counting;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    let _ = ENABLED.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting touches only `const`-initialised thread locals, which never
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations (reallocations included)
/// it made on this thread.
pub fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCATIONS.with(|n| n.set(0));
    ENABLED.with(|on| on.set(true));
    let r = f();
    ENABLED.with(|on| on.set(false));
    (r, ALLOCATIONS.with(Cell::get))
}
