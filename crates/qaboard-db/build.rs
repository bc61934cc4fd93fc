//! Rebuilds the crate when a migration is added: `embed_migrations!` reads
//! the migrations folders at compile time, and cargo only tracks the files it
//! included, not new folders beside them.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
