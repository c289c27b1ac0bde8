// Package crash holds Steward's named crash points: places where a test
// build stops the process abruptly (SIGKILL), so that a suite can kill
// Steward at every point in turn, run the command again and check the end
// state.
//
// In a normal build Point and At are empty functions that the compiler
// inlines away: no environment is read and nothing of the mechanism is in
// a release binary. Built with `-tags crashpoints`, a point kills the
// process when the environment variable STEWARD_CRASH_AT names it
// ("backup.snapshot-saved"), or names it with a count
// ("erase.target:delete#2": the second time the point is reached in this
// process). With STEWARD_CRASH_TRACE set to a file, every point reached is
// appended to it, one name a line, so that a test can check that each
// point in List is reached in its scenario.
package crash
