// Package initstderr holds back what packages write to standard error while the
// program initialises, so that a headless command can drop the noise of
// libraries it links but does not use.
//
// The reason is Fyne: its lang package looks up the user's locale in its init
// function and logs three lines ("Fyne error: Error parsing user locale C", with
// the cause and the source line) whenever the locale is C or POSIX, as it is in
// containers, CI and cron. Every fieldforms command would print them before it
// ran, breaking the promise of one clear line on standard error.
//
// Import it for its side effect from package main, and call Release first thing
// in main. On Linux, init points file descriptor 2 at a pipe; Release points it
// back and returns what was written meanwhile, for the caller to replay or
// filter. Go initialises the packages a program links in an order that puts this
// one, which imports only syscall, before any package that imports os or log,
// so nothing written by another package's init escapes it. Elsewhere, and when
// FIELDFORMS_INIT_STDERR=pass is set, it does nothing and Release returns nil.
//
// Caveat: a crash during initialisation (before Release) writes its report into
// the pipe and is lost with the process; set FIELDFORMS_INIT_STDERR=pass to see
// it. At most a pipe's capacity (64 KiB on Linux) is held; beyond that the writer
// would block, which no library's init comes near.
package initstderr
