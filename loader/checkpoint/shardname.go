package checkpoint

import "strings"

// ParseShardName splits the file name of a shard as transformers names
// them, PREFIX-00001-of-00003.safetensors, into its prefix and the shard's
// number k and count of. Each number is written as Go's "%05d" (and
// Python's "{:05d}") writes it: five digits, zero-padded, or more without
// a leading zero past 99,999 shards (model-00001-of-100000.safetensors).
// ok is false for any other name: no .safetensors suffix, an empty
// prefix, numbers written otherwise, or k not within 1..of. It parses by
// hand, so that the command does not compile package regexp.
func ParseShardName(name string) (prefix string, k, of int, ok bool) {
	rest, found := strings.CutSuffix(name, ".safetensors")
	i := strings.LastIndex(rest, "-of-")
	if !found || i < 0 {
		return "", 0, 0, false
	}
	j := strings.LastIndexByte(rest[:i], '-')
	if j <= 0 { // no dash, or an empty prefix
		return "", 0, 0, false
	}
	k, ok1 := shardNumber(rest[j+1 : i])
	of, ok2 := shardNumber(rest[i+len("-of-"):])
	if !ok1 || !ok2 || k < 1 || k > of {
		return "", 0, 0, false
	}
	return rest[:j], k, of, true
}

// shardNumber parses a shard's number or count as "%05d" writes it: five
// ASCII digits, or six to nine without a leading zero (nine digits keep
// it within a 32-bit int).
func shardNumber(s string) (int, bool) {
	if len(s) < 5 || len(s) > 9 || len(s) > 5 && s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
