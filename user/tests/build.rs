//! Links the image bins as static ET_EXEC programs with the user linker script (only with `image`).
fn main() {
    ferrite_link::link_image_bins();
}
