// Package bench measures stload against its Go peer
// (github.com/nlpodyssey/safetensors) and against the machine's own limits,
// side by side in one run, and holds the tools the GPU benchmark needs on a
// machine without Go: a synthetic checkpoint generator, page-cache warming,
// ceilings, and (with the cuda build tag) one-load-per-process GPU trials.
//
// Everything is reached through [Main], which the small binary in
// bench/cmd/stbench calls; the stload CLI's "bench" subcommand runs that
// binary when it is installed next to stload or on PATH. "stbench help"
// lists the commands and "stbench COMMAND -h" shows one's flags, also for
// the GPU commands in a build without the cuda tag:
//
//	stbench cpu                      # the whole CPU benchmark, markdown table
//	stbench cpu -json out.json       # the same, plus the figures as JSON
//	stbench gen -kind llama -size 32GB -out /data/llama.safetensors
//	stbench ceiling -file F          # memcpy and page-cache pread ceilings
//	stbench gpu-ceiling              # pinned/pageable H2D (cuda build only)
//	stbench gpu-trial F              # one timed load into cuda:0 (cuda build)
//	stbench report trials.jsonl      # medians, ratios and a markdown table
//
// Figures are medians of at least five runs with min and max, competitors
// interleaved run by run (ABAB) so that drift hits all of them alike, and
// every ratio is the median of the per-round ratios. Costs that belong to
// the allocator rather than to a reader, such as the first touch of fresh
// pages, are measured and reported on their own line instead of hiding
// inside a read figure.
//
// The GPU benchmark runs on a machine without Go: bench/gpu/build.sh builds
// the two binaries it needs, and bench/gpu/run.sh runs ceilings, the Go
// loader and the Python baselines in bench/py (safe_open, load_file and a
// pinned-ring torch loader) as fresh processes, interleaved, and writes the
// report. bench/RESULTS.md holds the latest figures.
//
// Synthetic files are random bytes from a counter-based generator
// ([Fill]), so a byte depends only on the seed and its offset: the content
// does not depend on how many goroutines wrote it, and zero-page shortcuts
// cannot flatter any loader.
package bench
