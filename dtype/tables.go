package dtype

import "sync"

// miniTables holds the value of every code of the 8-, 6- and 4-bit float
// formats, so that the slice decoders are a load per element.
type miniTables struct {
	f8 [5][256]float32 // indexed by DType - F8_E5M2
	f6 [2][64]float32  // F6_E2M3, F6_E3M2
	f4 [16]float32
}

// smallTables builds the tables on first use (about 6 KiB); they are never
// written afterwards.
var smallTables = sync.OnceValue(func() *miniTables {
	t := new(miniTables)
	f8 := [...]struct {
		d      DType
		decode func(uint8) float32
	}{
		{F8_E5M2, F8E5M2ToFloat32},
		{F8_E4M3, F8E4M3ToFloat32},
		{F8_E8M0, F8E8M0ToFloat32},
		{F8_E4M3FNUZ, F8E4M3FNUZToFloat32},
		{F8_E5M2FNUZ, F8E5M2FNUZToFloat32},
	}
	for _, c := range f8 {
		for i := range 256 {
			t.f8[c.d-F8_E5M2][i] = c.decode(uint8(i))
		}
	}
	for i := range 64 {
		t.f6[0][i] = F6E2M3ToFloat32(uint8(i))
		t.f6[1][i] = F6E3M2ToFloat32(uint8(i))
	}
	for i := range 16 {
		t.f4[i] = F4ToFloat32(uint8(i))
	}
	return t
})

// f8ToF32 decodes len(dst) FP8 codes from src through the table t.
func f8ToF32(dst []float32, src []byte, t *[256]float32) {
	src = src[:len(dst)]
	for i, b := range src {
		dst[i] = t[b]
	}
}
