//go:build amd64 && !purego

#include "textflag.h"

// See utf8_amd64.go for the method.

// utf8Third<> and utf8Fourth<> turn, by unsigned saturating subtraction,
// bytes E0-FF and F0-FF into bytes with the top bit set.
DATA utf8Third<>+0(SB)/8, $0x6060606060606060
DATA utf8Third<>+8(SB)/8, $0x6060606060606060
DATA utf8Third<>+16(SB)/8, $0x6060606060606060
DATA utf8Third<>+24(SB)/8, $0x6060606060606060
GLOBL utf8Third<>(SB), RODATA|NOPTR, $32

DATA utf8Fourth<>+0(SB)/8, $0x7070707070707070
DATA utf8Fourth<>+8(SB)/8, $0x7070707070707070
DATA utf8Fourth<>+16(SB)/8, $0x7070707070707070
DATA utf8Fourth<>+24(SB)/8, $0x7070707070707070
GLOBL utf8Fourth<>(SB), RODATA|NOPTR, $32

// utf8Unfinished<> is, per position of a block, the largest byte there
// that does not start a code point running past the block's end: F0 or
// more in the third last byte, E0 or more in the second last, C0 or more in
// the last.
DATA utf8Unfinished<>+0(SB)/8, $0xffffffffffffffff
DATA utf8Unfinished<>+8(SB)/8, $0xffffffffffffffff
DATA utf8Unfinished<>+16(SB)/8, $0xffffffffffffffff
DATA utf8Unfinished<>+24(SB)/8, $0xbfdfefffffffffff
GLOBL utf8Unfinished<>(SB), RODATA|NOPTR, $32

// func hasAVX2() bool
TEXT ·hasAVX2(SB), NOSPLIT, $0-1
	XORL AX, AX
	XORL CX, CX
	CPUID
	CMPL AX, $7
	JLT  no
	MOVL $1, AX
	XORL CX, CX
	CPUID
	ANDL $0x18000000, CX // OSXSAVE (bit 27) and AVX (bit 28)
	CMPL CX, $0x18000000
	JNE  no
	XORL CX, CX
	XGETBV
	ANDL $6, AX // the OS saves XMM and YMM registers
	CMPL AX, $6
	JNE  no
	MOVL $7, AX
	XORL CX, CX
	CPUID
	SHRL $5, BX // AVX2
	ANDL $1, BX
	MOVB BX, ret+0(FP)
	RET

no:
	MOVB $0, ret+0(FP)
	RET

// func validBlocks(p []byte) bool
//
// Registers: Y0 the previous block, Y1 the errors found, Y2 the previous
// block's unfinished code point at its end, Y3 the block, Y4-Y10 scratch,
// Y11-Y13 the pair tables, Y14 0x0F bytes, Y15 0x80 bytes.
TEXT ·validBlocks(SB), NOSPLIT, $0-25
	MOVQ p_base+0(FP), SI
	MOVQ p_len+8(FP), CX
	VBROADCASTI128 ·utf8PairTables+0(SB), Y11
	VBROADCASTI128 ·utf8PairTables+16(SB), Y12
	VBROADCASTI128 ·utf8PairTables+32(SB), Y13
	MOVL           $0x0f0f0f0f, AX
	MOVD           AX, X14
	VPBROADCASTD   X14, Y14
	MOVL           $0x80808080, AX
	MOVD           AX, X15
	VPBROADCASTD   X15, Y15
	VPXOR          Y0, Y0, Y0
	VPXOR          Y1, Y1, Y1
	VPXOR          Y2, Y2, Y2

loop:
	CMPQ      CX, $32
	JB        done
	VMOVDQU   (SI), Y3
	VPMOVMSKB Y3, AX
	TESTL     AX, AX
	JNZ       multibyte

	// All ASCII: valid unless the previous block left a code point
	// unfinished.
	VPOR    Y2, Y1, Y1
	VPXOR   Y2, Y2, Y2
	VMOVDQU Y3, Y0
	ADDQ    $32, SI
	SUBQ    $32, CX
	JMP     loop

multibyte:
	// Y5, Y6, Y7: the block shifted by one, two and three bytes, with the
	// end of the previous block shifted in.
	VPERM2I128 $0x21, Y3, Y0, Y4
	VPALIGNR   $15, Y4, Y3, Y5
	VPALIGNR   $14, Y4, Y3, Y6
	VPALIGNR   $13, Y4, Y3, Y7

	// Y8: the errors of each byte paired with the one before it.
	VPSRLW  $4, Y5, Y8
	VPAND   Y14, Y8, Y8
	VPSHUFB Y8, Y11, Y8
	VPAND   Y14, Y5, Y9
	VPSHUFB Y9, Y12, Y9
	VPSRLW  $4, Y3, Y10
	VPAND   Y14, Y10, Y10
	VPSHUFB Y10, Y13, Y10
	VPAND   Y9, Y8, Y8
	VPAND   Y10, Y8, Y8

	// Y6: 0x80 where a byte must be the second or third continuation
	// byte of a code point; it must be where utf8TwoConts is, and
	// nowhere else.
	VPSUBUSB utf8Third<>(SB), Y6, Y6
	VPSUBUSB utf8Fourth<>(SB), Y7, Y7
	VPOR     Y7, Y6, Y6
	VPAND    Y15, Y6, Y6
	VPXOR    Y6, Y8, Y8
	VPOR     Y8, Y1, Y1

	VPSUBUSB utf8Unfinished<>(SB), Y3, Y2
	VMOVDQU  Y3, Y0
	ADDQ     $32, SI
	SUBQ     $32, CX
	JMP      loop

done:
	VPTEST     Y1, Y1
	SETEQ      ret+24(FP)
	VZEROUPPER
	RET
