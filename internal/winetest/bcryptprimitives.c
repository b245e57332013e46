/*
 * bcryptprimitives.dll for running Go Windows test binaries under Wine 8.0.
 *
 * Test-only: never shipped, never linked into the app. `make wine-test` builds
 * it with mingw-w64 and puts it next to the test .exe.
 *
 * Since Go 1.24 the Windows runtime gets its random bytes from ProcessPrng in
 * bcryptprimitives.dll (runtime/os_windows.go: loadOptionalSyscalls) and throws
 * at start-up without it; crypto/rand calls it too. Wine 8.0 (Debian 12's wine64)
 * lacks that export, so this DLL provides it, filling the buffer from
 * advapi32's SystemFunction036 (RtlGenRandom), which Wine implements.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
	while (size > 0) {
		ULONG n = size > 0x40000000 ? 0x40000000 : (ULONG)size;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		size -= n;
	}
	return TRUE; /* documented to always succeed on Windows */
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
	(void)inst; (void)reason; (void)reserved;
	return TRUE;
}
