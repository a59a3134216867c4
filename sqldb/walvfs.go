package sqldb

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// The write-ahead log's frames, one write call per commit.
//
// SQLite appends a page to its WAL as two pwrite calls, the frame's 24-byte
// header and then the page, so a commit of 24 pages makes 48 system calls;
// on this project's virtual machines a call costs ~3 µs whatever its size
// (walWriteToLog was a tenth of the server's CPU in okpay bench ledger).
// walVFS is SQLite's own "unix" VFS with one change: the WAL files it opens
// collect appended frames in memory and write them with one call when
// they must reach the file, which is before anyone can read them:
//
//   - after the page of a commit frame (a frame header whose "database size
//     after commit" field is set): SQLite publishes a commit to readers
//     (the wal-index header) only after it has written its commit frame,
//     and an error of that write still fails the commit as before;
//   - before any other call on the file (read, sync, size, truncate, file
//     control, lock, close): the writer reading back a frame it spilled,
//     a synchronous commit's fsync, a checkpoint on this connection;
//   - when a write does not continue the last one (SQLite rewriting a frame
//     or its checksum in place, or starting the log over): pending frames
//     first, then that write goes straight to the file;
//   - when a megabyte is pending.
//
// Frames a commit has not yet published are not read by anyone, and a crash
// that loses them loses only that unpublished commit, as a crash between
// SQLite's own writes would; the files are SQLite's own format. The writer
// connections use it (the DSN's vfs parameter; the checkpointer's too, which
// opens with the writer's settings and appends nothing); readers and
// everything else use "unix" unchanged.
const walVFSName = "okpay-wal"

var walVFS struct {
	once    sync.Once
	err     error
	base    uintptr // SQLite's "unix" sqlite3_vfs
	methods uintptr // the io methods of a WAL file opened through walVFS
}

// walFile is what SQLite allocates for a file of walVFS (szOsFile): this
// header, then SQLite's own unixFile at walFileSize. Only WAL files use the
// header; any other file is the unixFile itself, at offset 0. It lives in
// SQLite's (libc's) memory, never Go's.
type walFile struct {
	methods  uintptr // sqlite3_file.pMethods: walVFS.methods
	buf      uintptr // pending bytes (libc memory)
	capacity int64
	n        int64 // pending bytes in buf
	off      int64 // the file offset of buf[0]
	end      int64 // the offset after the last write accepted
	inCommit int64 // 1: the last frame header was a commit frame's
}

const (
	walFileSize   = int32(unsafe.Sizeof(walFile{}))
	walFrameHdr   = 24      // a WAL frame header's size
	walMaxPending = 1 << 20 // written at once beyond this
	walWriteChunk = 1<<17 - 4096
	sqliteOpenWAL = 0x00080000
)

// registerWALVFS registers walVFS once per process.
func registerWALVFS() error {
	walVFS.once.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		base := sqlite3.Xsqlite3_vfs_find(tls, 0)
		if base == 0 {
			walVFS.err = fmt.Errorf("sqldb: SQLite has no default VFS")
			return
		}
		walVFS.base = base
		vfs := libc.Xcalloc(tls, 1, types.Size_t(unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})))
		methods := libc.Xcalloc(tls, 1, types.Size_t(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
		name, err := libc.CString(walVFSName)
		if vfs == 0 || methods == 0 || err != nil {
			walVFS.err = fmt.Errorf("sqldb: allocate the WAL VFS")
			return
		}
		v := (*sqlite3.Tsqlite3_vfs)(cmem(vfs))
		*v = *(*sqlite3.Tsqlite3_vfs)(cmem(base))
		v.FszOsFile += walFileSize
		v.FpNext = 0
		v.FzName = name
		v.FxOpen = cfunc(walOpen)
		m := (*sqlite3.Tsqlite3_io_methods)(cmem(methods))
		m.FiVersion = 1 // no shared memory or mapping: a WAL file has neither
		m.FxClose = cfunc(walClose)
		m.FxRead = cfunc(walRead)
		m.FxWrite = cfunc(walWrite)
		m.FxTruncate = cfunc(walTruncate)
		m.FxSync = cfunc(walSync)
		m.FxFileSize = cfunc(walFileSizeOf)
		m.FxLock = cfunc(walLock)
		m.FxUnlock = cfunc(walUnlock)
		m.FxCheckReservedLock = cfunc(walCheckReservedLock)
		m.FxFileControl = cfunc(walFileControl)
		m.FxSectorSize = cfunc(walSectorSize)
		m.FxDeviceCharacteristics = cfunc(walDeviceCharacteristics)
		walVFS.methods = methods
		if rc := sqlite3.Xsqlite3_vfs_register(tls, vfs, 0); rc != sqlite3.SQLITE_OK {
			walVFS.err = fmt.Errorf("sqldb: register the WAL VFS: SQLite error %d", rc)
		}
	})
	return walVFS.err
}

// cmem turns an address in SQLite's memory into a pointer (never Go memory).
func cmem(p uintptr) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(nil), p) }

// cfunc is a Go function as the transpiled SQLite calls it through a
// function pointer (a top-level function: see modernc.org/sqlite).
func cfunc[T any](f T) uintptr { return *(*uintptr)(unsafe.Pointer(&struct{ f T }{f})) }

// call turns a function pointer of SQLite's into a Go function value.
func call[T any](fp uintptr) T { return *(*T)(unsafe.Pointer(&struct{ fp uintptr }{fp})) }

func walOpen(tls *libc.TLS, _ uintptr, zName uintptr, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	open := call[func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32]((*sqlite3.Tsqlite3_vfs)(cmem(walVFS.base)).FxOpen)
	if flags&sqliteOpenWAL == 0 {
		return open(tls, walVFS.base, zName, pFile, flags, pOutFlags)
	}
	f := (*walFile)(cmem(pFile))
	*f = walFile{}
	rc := open(tls, walVFS.base, zName, pFile+uintptr(walFileSize), flags, pOutFlags)
	if (*sqlite3.Tsqlite3_file)(cmem(pFile+uintptr(walFileSize))).FpMethods != 0 {
		f.methods = walVFS.methods // SQLite closes it through us even when the open failed
	}
	return rc
}

// inner is the unixFile behind a WAL file and its methods.
func inner(p uintptr) (uintptr, *sqlite3.Tsqlite3_io_methods) {
	q := p + uintptr(walFileSize)
	return q, (*sqlite3.Tsqlite3_io_methods)(cmem((*sqlite3.Tsqlite3_file)(cmem(q)).FpMethods))
}

// flushed writes what is pending, then returns the unixFile behind p and
// its methods for the call that needed it.
func flushed(tls *libc.TLS, p uintptr) (uintptr, *sqlite3.Tsqlite3_io_methods, int32) {
	rc := flush(tls, p)
	q, m := inner(p)
	return q, m, rc
}

// flush writes the pending bytes with one call.
func flush(tls *libc.TLS, p uintptr) int32 {
	f := (*walFile)(cmem(p))
	if f.n == 0 {
		return sqlite3.SQLITE_OK
	}
	q, m := inner(p)
	write := call[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](m.FxWrite)
	for done := int64(0); done < f.n; {
		// unixWrite writes at most 128 KiB - 1 a call (it masks the length
		// with 0x1ffff): larger pieces would be cut.
		k := min(f.n-done, walWriteChunk)
		if rc := write(tls, q, f.buf+uintptr(done), int32(k), f.off+done); rc != sqlite3.SQLITE_OK {
			f.n = 0
			return rc
		}
		done += k
	}
	f.n = 0
	return sqlite3.SQLITE_OK
}

func walWrite(tls *libc.TLS, p uintptr, src uintptr, amt int32, off int64) int32 {
	f := (*walFile)(cmem(p))
	if off != f.end || amt <= 0 {
		// Not an append: what is pending first, then this write as is.
		if rc := flush(tls, p); rc != sqlite3.SQLITE_OK {
			return rc
		}
		q, m := inner(p)
		rc := call[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](m.FxWrite)(tls, q, src, amt, off)
		if rc == sqlite3.SQLITE_OK {
			f.end = off + int64(amt)
		}
		f.inCommit = 0
		return rc
	}
	if f.n+int64(amt) > f.capacity {
		c := max(2*f.capacity, f.n+int64(amt), 64<<10)
		buf := libc.Xrealloc(tls, f.buf, types.Size_t(c))
		if buf == 0 {
			return sqlite3.SQLITE_IOERR_NOMEM
		}
		f.buf, f.capacity = buf, c
	}
	if f.n == 0 {
		f.off = off
	}
	libc.Xmemcpy(tls, f.buf+uintptr(f.n), src, types.Size_t(amt))
	f.n += int64(amt)
	f.end = off + int64(amt)
	if amt == walFrameHdr {
		// Bytes 4..7 of a frame header: the database's size in pages after
		// a commit, zero in the frames before a commit's last.
		f.inCommit = 0
		if binary.BigEndian.Uint32(unsafe.Slice((*byte)(cmem(src)), walFrameHdr)[4:8]) != 0 {
			f.inCommit = 1
		}
		return sqlite3.SQLITE_OK
	}
	if f.inCommit == 1 || f.n >= walMaxPending {
		return flush(tls, p)
	}
	return sqlite3.SQLITE_OK
}

func walClose(tls *libc.TLS, p uintptr) int32 {
	q, m, rc := flushed(tls, p)
	f := (*walFile)(cmem(p))
	if f.buf != 0 {
		libc.Xfree(tls, f.buf)
		f.buf, f.capacity = 0, 0
	}
	if rc2 := call[func(*libc.TLS, uintptr) int32](m.FxClose)(tls, q); rc == sqlite3.SQLITE_OK {
		rc = rc2
	}
	return rc
}

func walRead(tls *libc.TLS, p uintptr, dst uintptr, amt int32, off int64) int32 {
	q, m, rc := flushed(tls, p)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](m.FxRead)(tls, q, dst, amt, off)
}

func walTruncate(tls *libc.TLS, p uintptr, size int64) int32 {
	q, m, rc := flushed(tls, p)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	(*walFile)(cmem(p)).end = -1 // the next write goes straight to the file
	return call[func(*libc.TLS, uintptr, int64) int32](m.FxTruncate)(tls, q, size)
}

func walSync(tls *libc.TLS, p uintptr, flags int32) int32 {
	q, m, rc := flushed(tls, p)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, int32) int32](m.FxSync)(tls, q, flags)
}

func walFileSizeOf(tls *libc.TLS, p uintptr, pSize uintptr) int32 {
	q, m, rc := flushed(tls, p)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, uintptr) int32](m.FxFileSize)(tls, q, pSize)
}

func walLock(tls *libc.TLS, p uintptr, level int32) int32 {
	q, m, rc := flushed(tls, p)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, int32) int32](m.FxLock)(tls, q, level)
}

func walUnlock(tls *libc.TLS, p uintptr, level int32) int32 {
	q, m, rc := flushed(tls, p)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, int32) int32](m.FxUnlock)(tls, q, level)
}

func walCheckReservedLock(tls *libc.TLS, p uintptr, pResOut uintptr) int32 {
	q, m := inner(p)
	return call[func(*libc.TLS, uintptr, uintptr) int32](m.FxCheckReservedLock)(tls, q, pResOut)
}

func walFileControl(tls *libc.TLS, p uintptr, op int32, pArg uintptr) int32 {
	q, m, rc := flushed(tls, p)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, int32, uintptr) int32](m.FxFileControl)(tls, q, op, pArg)
}

func walSectorSize(tls *libc.TLS, p uintptr) int32 {
	q, m := inner(p)
	return call[func(*libc.TLS, uintptr) int32](m.FxSectorSize)(tls, q)
}

func walDeviceCharacteristics(tls *libc.TLS, p uintptr) int32 {
	q, m := inner(p)
	return call[func(*libc.TLS, uintptr) int32](m.FxDeviceCharacteristics)(tls, q)
}
