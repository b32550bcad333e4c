//! Links the kernel with the x86_64 linker script (higher-half image, one PT_LOAD per kind of
//! page, the PVH note) as a position-dependent executable: the 32-bit PVH entry code uses
//! absolute physical addresses that a PIE cannot express.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&manifest).join("../../arch/x86_64/linker.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if target == "x86_64-unknown-none" {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
