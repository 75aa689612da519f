package main

import (
	"io"
	"unicode/utf8"
)

// screenWidth is the width tables are laid out to fit, unless --wide.
const screenWidth = 80

// minShrunk is the narrowest a shrinking column gets.
const minShrunk = 24

// layout lays out cells in columns separated by two spaces, each column
// left- or right-aligned, without trailing spaces. One column, the names,
// may shrink so that rows fit a width: its cells lose their middle to an
// ellipsis. A layout measures every row first (measure), then writes them
// one at a time (writeRow, or cell and endRow), so that a table of a
// million rows need not be held, and its rows make no garbage: they are
// built in buffers the layout reuses.
type layout struct {
	right  []bool // right[i]: column i is right-aligned
	shrink int    // the column that shrinks to fit, or -1
	widths []int

	row  []byte // the cells of the row being built, one after another
	ends []int  // where each cell of row ends
	line []byte // the row laid out
}

// measure widens the columns to hold cells.
func (l *layout) measure(cells ...string) {
	for i, c := range cells {
		if i == len(l.widths) {
			l.widths = append(l.widths, 0)
		}
		l.widths[i] = max(l.widths[i], utf8.RuneCountInString(c))
	}
}

// fit shrinks the shrinking column so that a row takes at most width
// columns (no limit when width ≤ 0), down to minShrunk.
func (l *layout) fit(width int) {
	if width <= 0 || l.shrink < 0 || l.shrink >= len(l.widths) {
		return
	}
	total := 2 * (len(l.widths) - 1)
	for _, w := range l.widths {
		total += w
	}
	if over := total - width; over > 0 {
		l.widths[l.shrink] = max(min(minShrunk, l.widths[l.shrink]), l.widths[l.shrink]-over)
	}
}

// writeRow writes one row of cells.
func (l *layout) writeRow(w io.Writer, cells ...string) error {
	for _, c := range cells {
		l.row = append(l.row, c...)
		l.endCell()
	}
	return l.endRow(w)
}

// endCell ends the cell appended to l.row since the last one.
func (l *layout) endCell() { l.ends = append(l.ends, len(l.row)) }

// endRow lays out the cells in l.row, writes the line to w and starts a
// new row.
func (l *layout) endRow(w io.Writer) error {
	last := len(l.ends) - 1
	for last >= 0 && l.cell(last) == nil {
		last-- // empty cells at the end leave no trailing spaces
	}
	line := l.line[:0]
	for i := 0; i <= last; i++ {
		if i > 0 {
			line = append(line, "  "...)
		}
		c, width := l.cell(i), 0
		if i < len(l.widths) {
			width = l.widths[i]
		}
		pad := max(0, width-utf8.RuneCount(c))
		right := i < len(l.right) && l.right[i]
		switch {
		case i == l.shrink && pad == 0:
			line = appendEllipsized(line, c, width)
		case right:
			line = append(appendSpaces(line, pad), c...)
		case i < last:
			line = appendSpaces(append(line, c...), pad)
		default:
			line = append(line, c...)
		}
	}
	line = append(line, '\n')
	l.line, l.row, l.ends = line, l.row[:0], l.ends[:0]
	_, err := w.Write(line)
	return err
}

// cell returns the i-th cell of the row being built (nil when empty).
func (l *layout) cell(i int) []byte {
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	if start == l.ends[i] {
		return nil
	}
	return l.row[start:l.ends[i]]
}

func appendSpaces(b []byte, n int) []byte {
	for range n {
		b = append(b, ' ')
	}
	return b
}

// appendEllipsized appends s shortened to n characters by replacing its
// middle with "…", keeping both ends, where names differ most
// ("model.layers.12.…proj.weight").
func appendEllipsized(b, s []byte, n int) []byte {
	count := utf8.RuneCount(s)
	if count <= n || n < 3 {
		return append(b, s...)
	}
	head := (n - 1) / 2
	tail := n - 1 - head
	cut := 0
	for range head {
		_, size := utf8.DecodeRune(s[cut:])
		cut += size
	}
	b = append(append(b, s[:cut]...), "…"...)
	from := len(s)
	for range tail {
		_, size := utf8.DecodeLastRune(s[:from])
		from -= size
	}
	return append(b, s[from:]...)
}

// ellipsize is appendEllipsized for a string.
func ellipsize(s string, n int) string { return string(appendEllipsized(nil, []byte(s), n)) }

// table is a layout that holds its rows, for small tables.
type table struct {
	layout
	rows [][]string
}

// newTable returns a table with the given right-aligned columns and none
// shrinking.
func newTable(right ...bool) *table { return &table{layout: layout{right: right, shrink: -1}} }

func (t *table) add(cells ...string) {
	t.measure(cells...)
	t.rows = append(t.rows, cells)
}

// write writes the rows, the shrinking column (if any) fitted to width.
func (t *table) write(w io.Writer, width int) error {
	t.fit(width)
	for _, r := range t.rows {
		if err := t.writeRow(w, r...); err != nil {
			return err
		}
	}
	return nil
}
