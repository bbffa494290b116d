//! Sizes for people: IEC binary units with one decimal (`24.3 MiB`, `512 B`), the one
//! convention ferry prints sizes in (`--volume-size` reads the same units; JSON keeps exact
//! byte counts).

/// A byte count: `512 B`, `1.5 KiB`, `24.3 MiB`, `4.0 GiB`.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_in_iec_units() {
        assert_eq!(super::size(512), "512 B");
        assert_eq!(super::size(1536), "1.5 KiB");
        assert_eq!(super::size(4 << 30), "4.0 GiB");
    }
}
