//! JavaScript's `a.localeCompare(b)` (ICU's root collation, as Node.js
//! sorts with its default locale), which postgres-meta sorts names by.

use icu_collator::options::CollatorOptions;
use icu_collator::{Collator, CollatorBorrowed};
use std::cmp::Ordering;
use std::sync::OnceLock;

fn collator() -> &'static CollatorBorrowed<'static> {
    static C: OnceLock<CollatorBorrowed<'static>> = OnceLock::new();
    C.get_or_init(|| {
        Collator::try_new(Default::default(), CollatorOptions::default())
            .expect("the root collation is compiled in")
    })
}

pub fn cmp(a: &str, b: &str) -> Ordering {
    collator().compare(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_as_locale_compare() {
        // Unlike byte order: case is a tertiary difference, `_` sorts
        // before digits and letters, `-` after `_`.
        assert_eq!(cmp("a", "B"), Ordering::Less);
        assert_eq!(cmp("b", "B"), Ordering::Less);
        assert_eq!(cmp("user_id", "user-id"), Ordering::Less);
        assert_eq!(cmp("a_b", "a1"), Ordering::Less);
        assert_eq!(cmp("todos", "todos_view"), Ordering::Less);
    }
}
