package process

import "syscall"

// ttyAttr starts a container's process with a terminal: in a session of
// its own (so also a process group of its own, which signals address as a
// whole), whose controlling terminal is its standard input.
func ttyAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}
