//go:build !linux

package main

import "os/exec"

// dieWithParent has no portable equivalent of Linux's parent-death signal; the generator stops its servers on
// every normal and signalled exit.
func dieWithParent(*exec.Cmd) {}
