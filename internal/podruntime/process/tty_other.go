//go:build !linux

package process

import "syscall"

func ttyAttr() *syscall.SysProcAttr { return nil }
