// Package checkpoint opens and saves models stored as safetensors files:
// one file, or a sharded checkpoint of several files listed by a
// transformers-style index (model.safetensors.index.json), on a disk or
// served over HTTP.
//
// [Open] accepts anything stload's command does — a file, a checkpoint
// directory, an index file, or the http(s) URL of a file or an index —
// and validates the whole: every shard's header, and that the index's
// weight_map matches them. [Save] writes a sharded checkpoint as
// transformers' save_pretrained does, all or nothing; [WriteFile] writes
// one file. Both stream tensors from [Source] values ([SourceOf] copies a
// tensor of an open file, [SourcesOf] all of them, [Convert] converts one
// to another element type), so converting or resharding a checkpoint
// larger than memory needs no more memory than a copy buffer for the
// tensors' bytes. What they keep per tensor is small and counted: a
// Source from SourcesOf is 80 bytes, and a save adds, per shard being
// written, a list of specs in write order and the Writer's copy of it (48
// bytes a tensor each) and a 4-byte write order, with no map keyed
// by name and no copy of a header or an index being written. So
// converting a file of a 99 MB header of 1.19 million tensors (stload
// convert) peaks at 6–7× the header's size in resident memory, the open
// file included.
//
// Errors are [*loader.Error] values wrapping this package's sentinels or
// the loader's.
//
// # Saving, and what a crash leaves
//
// A save into directory DIR ([Save], or [WriteFile] of DIR/NAME) goes
// through these steps, syncing each file before it is renamed and DIR
// where the order of renames matters:
//
//  1. Clean up: remove what killed saves left in DIR — staging folders
//     DIR/.stload-shards-* whose lock no process holds, and temporary
//     files .NAME.tmp-* of loader.CreateFile, for the file names the save
//     writes, that no writer holds locked. A running save's are kept. A
//     staging folder is claimed by taking its lock (creating the lock
//     file, if its save was killed before it made one), renamed to
//     .stload-shards-*.removing, a name no save writes to, and removed.
//  2. Stage: make a staging folder DIR/.stload-shards-RANDOM and hold an
//     flock on its .lock file until the save ends; write every new file
//     there in full (shards, then the index) and sync it. Then take an
//     flock on DIR itself for steps 3 to 5, so that saves to one
//     directory never interleave their renames.
//  3. Retire the old index, PREFIX.safetensors.index.json, if there is
//     one: move it into the staging folder's replaced/ and sync DIR,
//     before any shard it names is touched — always, even when the new
//     index will be the same text (same names and shapes), since that
//     index over a mix of old and new shards would pass every check. A
//     sharded save retires the old PREFIX.safetensors with it: left
//     beside the new shards, it would be a second checkpoint of the same
//     name with the old weights (the one transformers loads first).
//  4. Move the new files in. Sharded: move old files of the new shards'
//     names into replaced/, move the new shards in, sync DIR, then move
//     the new index in, last, and sync DIR. One file: rename it over the
//     old one and sync DIR.
//  5. Remove the old checkpoint's shards that the new one does not have
//     (another shard count, or all of them for one file) and sync DIR.
//  6. Remove the staging folder, the replaced files with it, and sync DIR.
//
// New files get the mode os.Create gives them (0666 less the umask);
// replaced ones keep theirs; shards of new names take the old index's.
//
// Whenever the process is killed or the machine stops, [Open] finds in DIR
// the old checkpoint whole, the new one whole, or [ErrIncomplete] — never
// part of a checkpoint taken for the whole, and never the index of one
// with shards of the other:
//
//   - until the first rename in DIR (step 3, or 4), the old checkpoint,
//     untouched (the new files are only in the staging folder);
//   - from then until the new index is in, ErrIncomplete: shards with no
//     index are never opened as a checkpoint, complete or not, and a
//     single file beside them (the new one, while step 5 removes the old
//     shards) is not taken for the checkpoint either; the
//     error names the shards, the staging folder and where the replaced
//     files are, and says what to do;
//   - once the new index (or the new single file with no shard left
//     beside it) is in, the new checkpoint; shards of another count not
//     yet removed are not in its index, and do not matter.
//
// A file opened by its own path (a shard, which Open then gives alone, as
// a checkpoint of one file) is always whole, the old file or the new:
// every file reaches its name by a rename of the complete, synced file. An
// index or shard missing from a directory with a staging folder
// or shards without an index gives ErrIncomplete. [WriteFile]'s path is
// the old file or the new one at every instant.
//
// A staging folder that nobody holds beside a whole checkpoint does not
// make the checkpoint fail to open (it may be on a read-only mount, or in
// another user's directory): [Checkpoint.Leftovers] lists it. The next
// save into DIR removes it, and the temporary files, however large.
//
// Open is also safe while another process saves: a save retires the index
// before it replaces any shard and puts a new index in last, so Open
// checks that the index it read is still the same file (device, inode,
// size and change time) once the shards are open, and starts again when
// it is not.
//
// Where the file system has no flock (some network file systems, and
// systems other than Unix), saves still publish in this order, but
// leftovers are neither removed nor reported, since they cannot be told
// from a running save's files.
package checkpoint
