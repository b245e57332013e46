//go:build ci || (mobile && !android && !ios)

package main

// fyneTestStorage reports a build in which Fyne keeps its storage under the
// temporary folder (the ci tag, or the mobile simulation); see defaultDataDir.
const fyneTestStorage = true
