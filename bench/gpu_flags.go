package bench

// The flags of the GPU commands, declared in every build so that
// "gpu-trial -h" and "gpu-ceiling -h" show them also where the commands
// cannot run (a build without -tags cuda).

import "flag"

// trialFlags are gpu-trial's flags.
type trialFlags struct {
	index, dev, label, name  string
	round                    int
	t0                       float64
	verify, pread, register  bool
	chunkSize                sizeFlag
	chunks, readers, streams int
	v                        trialVariant
}

// define declares the flags on fs.
func (f *trialFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.index, "index", "", "model.safetensors.index.json: load every shard it names (as a FILE argument would)")
	fs.StringVar(&f.dev, "device", "cuda:0", "target device, or 'auto' for every visible GPU (layers balanced)")
	fs.StringVar(&f.label, "label", "", "which file this is (llama, moe, sharded), for the report")
	fs.StringVar(&f.name, "loader", "stload", "loader name in the report (to tell tuning variants apart)")
	fs.IntVar(&f.round, "round", 0, "round number, for the report")
	fs.Float64Var(&f.t0, "t0", 0, "Unix time (seconds) the script started this process, for the process wall time")
	fs.BoolVar(&f.verify, "verify", false, "after the timed window, compare every tensor on the device with the file")
	fs.BoolVar(&f.pread, "pread", false, "open files with loader.WithPread instead of mapping them")
	fs.BoolVar(&f.register, "register", false, "copy straight from page-locked windows of the mapping (device.WithRegister)")
	fs.Var(&f.chunkSize, "chunk-size", "staging buffer size (default: the device package's)")
	fs.IntVar(&f.chunks, "chunks", 0, "staging buffers (default: the device package's)")
	fs.IntVar(&f.readers, "readers", 0, "reading goroutines (default: the device package's)")
	fs.IntVar(&f.streams, "streams", 0, "copy streams per device (default: the device package's)")
	f.v.flags(fs)
}

// ceilingFlags are gpu-ceiling's flags.
type ceilingFlags struct {
	index                                                  int
	pinnedSizes, pageableSizes, streams                    string
	rounds                                                 int
	perRun, preadBytes, devAlloc, regFile, contentionBytes sizeFlag
	file, threads, costSizes, contention                   string
	shift                                                  int64
}

// define declares the flags on fs, with their defaults.
func (f *ceilingFlags) define(fs *flag.FlagSet) {
	fs.IntVar(&f.index, "device", 0, "GPU index")
	fs.StringVar(&f.pinnedSizes, "sizes", "4MiB,16MiB,64MiB,256MiB,1GiB", "pinned buffer sizes")
	fs.StringVar(&f.pageableSizes, "pageable-sizes", "64MiB,1GiB", "pageable buffer sizes")
	fs.StringVar(&f.streams, "streams", "1,2", "stream counts")
	fs.IntVar(&f.rounds, "rounds", 3, "timed runs per figure")
	f.perRun = 4 << 30
	fs.Var(&f.perRun, "bytes-per-run", "bytes copied per timed run")
	fs.StringVar(&f.file, "file", "", "page-cached file: pread into pinned buffers, and register its mapping read-only")
	fs.StringVar(&f.threads, "threads", "1,2,4,8,12,16", "goroutine counts of the pinned pread ceiling")
	f.preadBytes = 8 << 30
	fs.Var(&f.preadBytes, "pread-bytes", "bytes of -file each pread run reads (its start)")
	fs.Int64Var(&f.shift, "shift", 4088, "also time 1-goroutine pread at offsets ≡ shift (mod 4096) over 2 GiB (0: skip)")
	fs.StringVar(&f.costSizes, "cost-sizes", "256MiB,1GiB", "sizes whose pinning and registering is timed")
	f.devAlloc = 32 << 30
	fs.Var(&f.devAlloc, "dev-alloc", "size of the timed device allocation (0: skip)")
	f.regFile = 4 << 30
	fs.Var(&f.regFile, "register-file", "bytes of -file's mapping to register read-only (0: skip)")
	fs.StringVar(&f.contention, "contention", "", "goroutine counts of the contention ceiling: fill a pinned ring from -file's mapping alone, and while 8 MiB copies run on 2 streams (empty: skip)")
	f.contentionBytes = 8 << 30
	fs.Var(&f.contentionBytes, "contention-bytes", "bytes each contention run fills (and the copy-alone run copies)")
}
