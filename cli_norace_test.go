//go:build !race

package main

// raceBuild reports a test binary built with -race; the binary under test is
// built the same way.
const raceBuild = false
