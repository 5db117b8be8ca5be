package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cella.dev/cella/internal/atomicfile"
	"cella.dev/cella/internal/storage/bolt"
)

// The files of the data directory that Start owns besides the PKI files
// (docs/storage-format.md, "The data directory").
const (
	// storeFile is the bolt store.
	storeFile = "cella.db"
	// lockFile is locked (flock) by the running server and holds its PID.
	lockFile = "cella.lock"
	// initializedFile is written once the store holds the first objects;
	// from then on a missing or empty store is an error, not a new cluster.
	initializedFile = "cella.initialized"
)

// errLocked means another process holds the lock on the data directory.
var errLocked = errors.New("locked by another process")

// dataDir is the data directory of a running server. It holds an exclusive
// lock on lockFile from openDataDir until close, so a second cella on the
// same directory fails at once instead of waiting for bolt's lock.
type dataDir struct {
	path string
	lock *os.File
	// initialized is whether initializedFile exists; only the goroutine
	// running Start reads or sets it.
	initialized bool
}

// openDataDir creates the data directory if needed (mode 0700), warns when
// others may write it, and locks it. It fails at once, naming the holder's
// PID when it is known, if another process holds the lock.
func openDataDir(path string, log *slog.Logger) (*dataDir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		log.Warn("the data directory is writable by other users, who could replace the store, the CA or the admin token; chmod it to 0700",
			"dataDir", path, "mode", fmt.Sprintf("%04o", perm))
	}
	lockPath := filepath.Join(path, lockFile)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := tryLock(f); err != nil {
		defer f.Close()
		if errors.Is(err, errLocked) {
			if pid := readPID(f); pid > 0 {
				return nil, fmt.Errorf("data directory %s is in use by another cella (pid %d)", path, pid)
			}
			return nil, fmt.Errorf("data directory %s is in use by another cella (it holds the lock on %s)", path, lockPath)
		}
		return nil, fmt.Errorf("data directory: locking %s: %w", lockPath, err)
	}
	// The PID only helps the message above; a full disk must not stop the
	// start, so failing to record it is a warning.
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		log.Warn("could not record the PID in the lock file", "path", lockPath, "err", err)
	}
	d := &dataDir{path: path, lock: f}
	switch _, err := os.Stat(filepath.Join(path, initializedFile)); {
	case err == nil:
		d.initialized = true
	case !errors.Is(err, fs.ErrNotExist):
		f.Close()
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return d, nil
}

// readPID returns the PID recorded in the lock file, or 0.
func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// openStore opens the bolt store of the directory. Once the directory is
// initialized, a store that is missing, empty or at revision 0 is refused
// with an error that says how to start fresh on purpose.
func (d *dataDir) openStore(log *slog.Logger) (*bolt.Store, error) {
	path := filepath.Join(d.path, storeFile)
	st, err := bolt.Open(path, bolt.Options{Logger: log, MustExist: d.initialized})
	if errors.Is(err, bolt.ErrNoStore) {
		return nil, fmt.Errorf("data directory %s was initialized (%s exists) but its store is missing or empty; "+
			"refusing to start a new, empty cluster in its place. Restore %s from a backup, or, to start a new, "+
			"empty cluster on purpose, move the data directory away (or delete %s and %s, which keeps the CA "+
			"and the admin token): %w",
			d.path, initializedFile, storeFile, storeFile, initializedFile, err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening storage: %w", err)
	}
	return st, nil
}

// markInitialized records, once, that the store holds objects. It is
// called after the first objects are written; a failure is only logged,
// since a data directory that is not marked still works (a lost store
// would then start empty, as before the mark existed).
func (d *dataDir) markInitialized(log *slog.Logger) {
	if d.initialized {
		return
	}
	const text = "This data directory holds a Cella cluster; its objects are in " + storeFile + ".\n" +
		"While this file exists, cella refuses to start if " + storeFile + " is missing or empty.\n" +
		"To start a new, empty cluster here on purpose, delete " + storeFile + " and this file.\n"
	if err := atomicfile.Write(filepath.Join(d.path, initializedFile), []byte(text), 0o600); err != nil {
		log.Warn("could not mark the data directory initialized; a lost store would not be noticed at the next start",
			"dataDir", d.path, "err", err)
		return
	}
	d.initialized = true
}

// close releases the lock. The lock file stays: removing it would let a
// second server lock a new file while the first still holds the old one.
func (d *dataDir) close() {
	if d != nil && d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
}
