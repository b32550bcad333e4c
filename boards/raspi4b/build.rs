//! Links the kernel with the AArch64 linker script (higher-half image starting with the Linux
//! arm64 Image header, 4 KiB-aligned text/rodata/data segments, the Limine request section),
//! as a position-dependent executable: the boot code relies on link-time addresses.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&manifest).join("../../arch/aarch64/kernel.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if target.starts_with("aarch64-unknown-none") {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
