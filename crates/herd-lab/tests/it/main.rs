//! herd-lab end to end: each tool on inputs with known answers.

mod contamination;
mod eval_bfcl;
mod eval_ifeval;
mod eval_longctx;
mod eval_scorers;
mod eval_tasks;
mod eval_textmodels;
mod humaneval;
mod needle;
mod scaling;
