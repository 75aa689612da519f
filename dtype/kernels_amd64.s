//go:build !purego

// This file was generated once, by a throwaway script that is not in the
// repository, and is maintained by hand now. The six kernels below are one
// template instantiated six times: they differ only in how a group of 8
// elements is loaded, converted and stored (the lines between a load from
// SI and a store to DI) and in the element sizes, which set the pointer
// increments, the dst alignment test in the head (TESTQ $3 for 4-byte
// outputs, $1 for 2-byte ones) and the shifts that turn a byte count into
// elements; the two that round to bfloat16 also load BF16CONST first. Keep
// the six in step: a fix to the skeleton belongs in all of them. Test any
// change against the pure-Go loops with kernels_amd64_test.go, on a machine
// with AVX2 and F16C.

#include "textflag.h"

// Every kernel converts n ≥ 64 elements from src to dst and shares one
// skeleton:
//
//   - With nt set (large outputs) and dst aligned to its element size, it
//     converts 16 elements with unaligned stores, then skips ahead to the
//     first 32-byte-aligned dst address (at most 15 elements, all already
//     written) and runs the main loop with non-temporal stores (VMOVNTDQ),
//     which do not read the destination lines into the cache first: that
//     read would add the output's size again to the memory traffic.
//     SFENCE then orders those stores before any later ones, as
//     runtime·memmove does.
//     The loop also prefetches the source 2 KiB ahead: with the vector work
//     filling the out-of-order window, the hardware prefetcher alone keeps
//     too few reads in flight (measured: up to 15% more throughput for the
//     narrowing kernels, whose reads are two thirds of the traffic).
//   - Otherwise the main loop uses ordinary unaligned stores.
//   - The main loop converts 32 elements (4 groups of 8) per iteration.
//   - The tail converts whole groups of 8, then one last group that ends
//     exactly at element n, overlapping elements already written with the
//     same values. So there is no scalar tail, and nothing outside [0, n)
//     is loaded or stored (prefetches aside, which cannot fault).
//
// Registers: DI dst, SI src, CX elements left, BX nt, AX scratch;
// Y0-Y3 group results, Y4-Y7 temporaries, Y9-Y13 constants.

// BF16CONST loads the constants of BF16RND.
#define BF16CONST \
	MOVL $0x7fff, AX; VMOVD AX, X9; VPBROADCASTD X9, Y9; \
	MOVL $1, AX; VMOVD AX, X10; VPBROADCASTD X10, Y10; \
	MOVL $0x7fffffff, AX; VMOVD AX, X11; VPBROADCASTD X11, Y11; \
	MOVL $0x7f800000, AX; VMOVD AX, X12; VPBROADCASTD X12, Y12; \
	MOVL $0x40, AX; VMOVD AX, X13; VPBROADCASTD X13, Y13

// BF16RND rounds the 8 float32 in Y to bfloat16, ties to even, leaving each
// in the low half of its 32-bit lane: (u + 0x7fff + (u>>16 & 1)) >> 16, or
// for a NaN (|u| > 0x7f800000) u>>16 | 0x40. T1 and T2 are clobbered.
#define BF16RND(Y, T1, T2) \
	VPSRLD $16, Y, T1; \
	VPAND Y10, T1, T2; \
	VPADDD Y9, T2, T2; \
	VPADDD Y, T2, T2; \
	VPSRLD $16, T2, T2; \
	VPOR Y13, T1, T1; \
	VPAND Y11, Y, Y; \
	VPCMPGTD Y12, Y, Y; \
	VPBLENDVB Y, T1, T2, Y


// func bf16ToF32AVX2(dst, src *byte, n int, nt bool)
//
// bf16ToF32AVX2 widens bfloat16 to float32: zero-extend each 16-bit value and shift it to the top.
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVBQZX nt+24(FP), BX
	TESTQ BX, BX
	JZ loop
	TESTQ $3, DI
	JNZ loop

	// Head: 16 elements unaligned, then align DI to 32 bytes.
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VMOVDQU Y0, 0(DI)
	VPMOVZXWD 16(SI), Y0
	VPSLLD $16, Y0, Y0
	VMOVDQU Y0, 32(DI)
	MOVQ DI, AX
	NEGQ AX
	ANDQ $31, AX
	ADDQ AX, DI
	SHRQ $2, AX
	SUBQ AX, CX
	SHLQ $1, AX
	ADDQ AX, SI

ntloop:
	CMPQ CX, $32
	JB ntdone
	PREFETCHT0 2048(SI)
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VPMOVZXWD 16(SI), Y1
	VPSLLD $16, Y1, Y1
	VPMOVZXWD 32(SI), Y2
	VPSLLD $16, Y2, Y2
	VPMOVZXWD 48(SI), Y3
	VPSLLD $16, Y3, Y3
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y1, 32(DI)
	VMOVNTDQ Y2, 64(DI)
	VMOVNTDQ Y3, 96(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP ntloop

ntdone:
	SFENCE

loop:
	CMPQ CX, $32
	JB tail
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VPMOVZXWD 16(SI), Y1
	VPSLLD $16, Y1, Y1
	VPMOVZXWD 32(SI), Y2
	VPSLLD $16, Y2, Y2
	VPMOVZXWD 48(SI), Y3
	VPSLLD $16, Y3, Y3
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP loop

tail:
	CMPQ CX, $8
	JB last
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VMOVDQU Y0, 0(DI)
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP tail

last:
	// Back up so that one more group ends exactly at element n.
	TESTQ CX, CX
	JZ done
	MOVQ $8, AX
	SUBQ CX, AX
	SHLQ $1, AX
	SUBQ AX, SI
	SHLQ $1, AX
	SUBQ AX, DI
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VMOVDQU Y0, 0(DI)

done:
	VZEROUPPER
	RET

// func f16ToF32AVX2(dst, src *byte, n int, nt bool)
//
// f16ToF32AVX2 widens halves to float32 with F16C's VCVTPH2PS (exact).
TEXT ·f16ToF32AVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVBQZX nt+24(FP), BX
	TESTQ BX, BX
	JZ loop
	TESTQ $3, DI
	JNZ loop

	// Head: 16 elements unaligned, then align DI to 32 bytes.
	VCVTPH2PS 0(SI), Y0
	VMOVDQU Y0, 0(DI)
	VCVTPH2PS 16(SI), Y0
	VMOVDQU Y0, 32(DI)
	MOVQ DI, AX
	NEGQ AX
	ANDQ $31, AX
	ADDQ AX, DI
	SHRQ $2, AX
	SUBQ AX, CX
	SHLQ $1, AX
	ADDQ AX, SI

ntloop:
	CMPQ CX, $32
	JB ntdone
	PREFETCHT0 2048(SI)
	VCVTPH2PS 0(SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y1, 32(DI)
	VMOVNTDQ Y2, 64(DI)
	VMOVNTDQ Y3, 96(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP ntloop

ntdone:
	SFENCE

loop:
	CMPQ CX, $32
	JB tail
	VCVTPH2PS 0(SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP loop

tail:
	CMPQ CX, $8
	JB last
	VCVTPH2PS 0(SI), Y0
	VMOVDQU Y0, 0(DI)
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP tail

last:
	// Back up so that one more group ends exactly at element n.
	TESTQ CX, CX
	JZ done
	MOVQ $8, AX
	SUBQ CX, AX
	SHLQ $1, AX
	SUBQ AX, SI
	SHLQ $1, AX
	SUBQ AX, DI
	VCVTPH2PS 0(SI), Y0
	VMOVDQU Y0, 0(DI)

done:
	VZEROUPPER
	RET

// func f32ToBF16AVX2(dst, src *byte, n int, nt bool)
//
// f32ToBF16AVX2 rounds float32 to bfloat16, ties to even, NaN kept quiet (see f32BitsToBF16).
TEXT ·f32ToBF16AVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVBQZX nt+24(FP), BX
	BF16CONST
	TESTQ BX, BX
	JZ loop
	TESTQ $1, DI
	JNZ loop

	// Head: 16 elements unaligned, then align DI to 32 bytes.
	VMOVDQU 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VMOVDQU X0, 0(DI)
	VMOVDQU 32(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VMOVDQU X0, 16(DI)
	MOVQ DI, AX
	NEGQ AX
	ANDQ $31, AX
	ADDQ AX, DI
	SHRQ $1, AX
	SUBQ AX, CX
	SHLQ $2, AX
	ADDQ AX, SI

ntloop:
	CMPQ CX, $32
	JB ntdone
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	VMOVDQU 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VMOVDQU 32(SI), Y1
	BF16RND(Y1, Y6, Y7)
	VMOVDQU 64(SI), Y2
	BF16RND(Y2, Y4, Y5)
	VMOVDQU 96(SI), Y3
	BF16RND(Y3, Y6, Y7)
	VPACKUSDW Y1, Y0, Y0
	VPACKUSDW Y3, Y2, Y2
	VPERMQ $0xD8, Y0, Y0
	VPERMQ $0xD8, Y2, Y2
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y2, 32(DI)
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JMP ntloop

ntdone:
	SFENCE

loop:
	CMPQ CX, $32
	JB tail
	VMOVDQU 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VMOVDQU 32(SI), Y1
	BF16RND(Y1, Y6, Y7)
	VMOVDQU 64(SI), Y2
	BF16RND(Y2, Y4, Y5)
	VMOVDQU 96(SI), Y3
	BF16RND(Y3, Y6, Y7)
	VPACKUSDW Y1, Y0, Y0
	VPACKUSDW Y3, Y2, Y2
	VPERMQ $0xD8, Y0, Y0
	VPERMQ $0xD8, Y2, Y2
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y2, 32(DI)
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JMP loop

tail:
	CMPQ CX, $8
	JB last
	VMOVDQU 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VMOVDQU X0, 0(DI)
	ADDQ $32, SI
	ADDQ $16, DI
	SUBQ $8, CX
	JMP tail

last:
	// Back up so that one more group ends exactly at element n.
	TESTQ CX, CX
	JZ done
	MOVQ $8, AX
	SUBQ CX, AX
	SHLQ $2, AX
	SUBQ AX, SI
	SHRQ $1, AX
	SUBQ AX, DI
	VMOVDQU 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VMOVDQU X0, 0(DI)

done:
	VZEROUPPER
	RET

// func f32ToF16AVX2(dst, src *byte, n int, nt bool)
//
// f32ToF16AVX2 rounds float32 to halves with VCVTPS2PH, immediate 0: ties to even.
TEXT ·f32ToF16AVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVBQZX nt+24(FP), BX
	TESTQ BX, BX
	JZ loop
	TESTQ $1, DI
	JNZ loop

	// Head: 16 elements unaligned, then align DI to 32 bytes.
	VMOVDQU 0(SI), Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU X0, 0(DI)
	VMOVDQU 32(SI), Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU X0, 16(DI)
	MOVQ DI, AX
	NEGQ AX
	ANDQ $31, AX
	ADDQ AX, DI
	SHRQ $1, AX
	SUBQ AX, CX
	SHLQ $2, AX
	ADDQ AX, SI

ntloop:
	CMPQ CX, $32
	JB ntdone
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	VMOVDQU 0(SI), Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU 32(SI), Y1
	VCVTPS2PH $0, Y1, X1
	VMOVDQU 64(SI), Y2
	VCVTPS2PH $0, Y2, X2
	VMOVDQU 96(SI), Y3
	VCVTPS2PH $0, Y3, X3
	VINSERTI128 $1, X1, Y0, Y0
	VINSERTI128 $1, X3, Y2, Y2
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y2, 32(DI)
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JMP ntloop

ntdone:
	SFENCE

loop:
	CMPQ CX, $32
	JB tail
	VMOVDQU 0(SI), Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU 32(SI), Y1
	VCVTPS2PH $0, Y1, X1
	VMOVDQU 64(SI), Y2
	VCVTPS2PH $0, Y2, X2
	VMOVDQU 96(SI), Y3
	VCVTPS2PH $0, Y3, X3
	VINSERTI128 $1, X1, Y0, Y0
	VINSERTI128 $1, X3, Y2, Y2
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y2, 32(DI)
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JMP loop

tail:
	CMPQ CX, $8
	JB last
	VMOVDQU 0(SI), Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU X0, 0(DI)
	ADDQ $32, SI
	ADDQ $16, DI
	SUBQ $8, CX
	JMP tail

last:
	// Back up so that one more group ends exactly at element n.
	TESTQ CX, CX
	JZ done
	MOVQ $8, AX
	SUBQ CX, AX
	SHLQ $2, AX
	SUBQ AX, SI
	SHRQ $1, AX
	SUBQ AX, DI
	VMOVDQU 0(SI), Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU X0, 0(DI)

done:
	VZEROUPPER
	RET

// func bf16ToF16AVX2(dst, src *byte, n int, nt bool)
//
// bf16ToF16AVX2 converts bfloat16 to halves through float32 (exact), rounding once.
TEXT ·bf16ToF16AVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVBQZX nt+24(FP), BX
	TESTQ BX, BX
	JZ loop
	TESTQ $1, DI
	JNZ loop

	// Head: 16 elements unaligned, then align DI to 32 bytes.
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU X0, 0(DI)
	VPMOVZXWD 16(SI), Y0
	VPSLLD $16, Y0, Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU X0, 16(DI)
	MOVQ DI, AX
	NEGQ AX
	ANDQ $31, AX
	ADDQ AX, DI
	SHRQ $1, AX
	SUBQ AX, CX
	SHLQ $1, AX
	ADDQ AX, SI

ntloop:
	CMPQ CX, $32
	JB ntdone
	PREFETCHT0 2048(SI)
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VCVTPS2PH $0, Y0, X0
	VPMOVZXWD 16(SI), Y1
	VPSLLD $16, Y1, Y1
	VCVTPS2PH $0, Y1, X1
	VPMOVZXWD 32(SI), Y2
	VPSLLD $16, Y2, Y2
	VCVTPS2PH $0, Y2, X2
	VPMOVZXWD 48(SI), Y3
	VPSLLD $16, Y3, Y3
	VCVTPS2PH $0, Y3, X3
	VINSERTI128 $1, X1, Y0, Y0
	VINSERTI128 $1, X3, Y2, Y2
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JMP ntloop

ntdone:
	SFENCE

loop:
	CMPQ CX, $32
	JB tail
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VCVTPS2PH $0, Y0, X0
	VPMOVZXWD 16(SI), Y1
	VPSLLD $16, Y1, Y1
	VCVTPS2PH $0, Y1, X1
	VPMOVZXWD 32(SI), Y2
	VPSLLD $16, Y2, Y2
	VCVTPS2PH $0, Y2, X2
	VPMOVZXWD 48(SI), Y3
	VPSLLD $16, Y3, Y3
	VCVTPS2PH $0, Y3, X3
	VINSERTI128 $1, X1, Y0, Y0
	VINSERTI128 $1, X3, Y2, Y2
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JMP loop

tail:
	CMPQ CX, $8
	JB last
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU X0, 0(DI)
	ADDQ $16, SI
	ADDQ $16, DI
	SUBQ $8, CX
	JMP tail

last:
	// Back up so that one more group ends exactly at element n.
	TESTQ CX, CX
	JZ done
	MOVQ $8, AX
	SUBQ CX, AX
	SHLQ $1, AX
	SUBQ AX, SI
	SUBQ AX, DI
	VPMOVZXWD 0(SI), Y0
	VPSLLD $16, Y0, Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU X0, 0(DI)

done:
	VZEROUPPER
	RET

// func f16ToBF16AVX2(dst, src *byte, n int, nt bool)
//
// f16ToBF16AVX2 converts halves to bfloat16 through float32 (exact), rounding once.
TEXT ·f16ToBF16AVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVBQZX nt+24(FP), BX
	BF16CONST
	TESTQ BX, BX
	JZ loop
	TESTQ $1, DI
	JNZ loop

	// Head: 16 elements unaligned, then align DI to 32 bytes.
	VCVTPH2PS 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VMOVDQU X0, 0(DI)
	VCVTPH2PS 16(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VMOVDQU X0, 16(DI)
	MOVQ DI, AX
	NEGQ AX
	ANDQ $31, AX
	ADDQ AX, DI
	SHRQ $1, AX
	SUBQ AX, CX
	SHLQ $1, AX
	ADDQ AX, SI

ntloop:
	CMPQ CX, $32
	JB ntdone
	PREFETCHT0 2048(SI)
	VCVTPH2PS 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VCVTPH2PS 16(SI), Y1
	BF16RND(Y1, Y6, Y7)
	VCVTPH2PS 32(SI), Y2
	BF16RND(Y2, Y4, Y5)
	VCVTPH2PS 48(SI), Y3
	BF16RND(Y3, Y6, Y7)
	VPACKUSDW Y1, Y0, Y0
	VPACKUSDW Y3, Y2, Y2
	VPERMQ $0xD8, Y0, Y0
	VPERMQ $0xD8, Y2, Y2
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JMP ntloop

ntdone:
	SFENCE

loop:
	CMPQ CX, $32
	JB tail
	VCVTPH2PS 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VCVTPH2PS 16(SI), Y1
	BF16RND(Y1, Y6, Y7)
	VCVTPH2PS 32(SI), Y2
	BF16RND(Y2, Y4, Y5)
	VCVTPH2PS 48(SI), Y3
	BF16RND(Y3, Y6, Y7)
	VPACKUSDW Y1, Y0, Y0
	VPACKUSDW Y3, Y2, Y2
	VPERMQ $0xD8, Y0, Y0
	VPERMQ $0xD8, Y2, Y2
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JMP loop

tail:
	CMPQ CX, $8
	JB last
	VCVTPH2PS 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VMOVDQU X0, 0(DI)
	ADDQ $16, SI
	ADDQ $16, DI
	SUBQ $8, CX
	JMP tail

last:
	// Back up so that one more group ends exactly at element n.
	TESTQ CX, CX
	JZ done
	MOVQ $8, AX
	SUBQ CX, AX
	SHLQ $1, AX
	SUBQ AX, SI
	SUBQ AX, DI
	VCVTPH2PS 0(SI), Y0
	BF16RND(Y0, Y4, Y5)
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VMOVDQU X0, 0(DI)

done:
	VZEROUPPER
	RET
