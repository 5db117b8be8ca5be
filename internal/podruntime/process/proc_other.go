//go:build !linux

package process

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// supported says the process runtime works here: it needs Linux's /proc
// to know its processes again after a restart.
const supported = false

var errUnsupported = errors.New("the process runtime needs Linux")

func readBootID() (string, error)                           { return "", errUnsupported }
func selfID() (procID, error)                               { return procID{}, errUnsupported }
func idOf(int) (procID, error)                              { return procID{}, errUnsupported }
func live(procID) bool                                      { return false }
func signalProc(procID, bool, syscall.Signal)               {}
func killGroup(int)                                         {}
func waitExit(context.Context, procID, time.Duration) error { return nil }
func shimAttr() *syscall.SysProcAttr                        { return nil }
func groupAttr() *syscall.SysProcAttr                       { return nil }
func ownGroup(attr *syscall.SysProcAttr, _ bool) *syscall.SysProcAttr {
	return attr
}
func exitCode(ps *os.ProcessState) int { return ps.ExitCode() }
func waitChild(int)                    {}
func killChild(int)                    {}
func signalGroup(int, os.Signal)       {}

var forwarded []os.Signal

func groupUsage(map[int]string) (map[int]procUsage, error) { return nil, errUnsupported }
