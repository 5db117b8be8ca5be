//go:build !linux

package process

import (
	"os"

	"github.com/creack/pty"
)

func openTerminal() (master, slave *os.File, err error) { return pty.Open() }

func setTerminalSize(master *os.File, width, height uint16) error {
	return pty.Setsize(master, &pty.Winsize{Cols: width, Rows: height})
}
