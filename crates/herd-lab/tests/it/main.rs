//! herd-lab end to end: each tool on inputs with known answers.

mod contamination;
mod eval_scorers;
mod eval_tasks;
mod humaneval;
mod needle;
mod scaling;
