pub trait Shape { fn area(&self) -> f64; fn name(&self) -> String; }
pub struct Square(pub f64);
pub struct Circle(pub f64);
impl Shape for Square { fn area(&self) -> f64 { self.0 * self.0 } fn name(&self) -> String { format!("square {}", self.0) } }
impl Shape for Circle { fn area(&self) -> f64 { 3.0 * self.0 * self.0 } fn name(&self) -> String { format!("circle {}", self.0) } }
pub fn total_area(v: &[Box<dyn Shape>]) -> f64 { v.iter().map(|s| s.area()).sum() }

#[cfg(test)]
mod tests {
    use super::*;
    #[test] fn square() { assert_eq!(Square(3.0).area(), 9.0); }
    #[test] fn names() { let v: Vec<String> = (0..100).map(|i| Circle(i as f64).name()).collect(); assert_eq!(v[7], "circle 7"); }
    #[test] fn total() { let v: Vec<Box<dyn Shape>> = vec![Box::new(Square(2.0)), Box::new(Circle(1.0))]; assert_eq!(total_area(&v), 7.0); }
}
