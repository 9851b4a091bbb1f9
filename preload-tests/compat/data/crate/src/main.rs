include!(concat!(env!("OUT_DIR"), "/table.rs"));
use shapes::{Shape, total_area};
fn main() {
    let shapes: Vec<Box<dyn Shape>> = (0..1000u64)
        .map(|i| -> Box<dyn Shape> { if i % 2 == 0 { Box::new(shapes::Square(TABLE[(i % 64) as usize] as f64)) } else { Box::new(shapes::Circle(i as f64 / 10.0)) } })
        .collect();
    println!("shapes {} area {:.3}", shapes.len(), total_area(&shapes));
    println!("table sum {}", TABLE.iter().sum::<u64>());
}
