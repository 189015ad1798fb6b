// Quantities with units, parsed in one place.
//
// Convention (docs/ARCHITECTURE.md, "Units"):
//  - Decimal prefixes k, M, G, T, P are powers of 1000 for every rate and size ("400Gbps" =
//    400e9 bit/s, "25MB" = 25e6 bytes); binary prefixes Ki, Mi, Gi, Ti are powers of 1024
//    ("80GiB" = 80 * 2^30 bytes).
//  - Bandwidth: "Bps" is bytes per second, "bps" is bits per second. Internally always bytes/s.
//  - Time: s, ms, us, ns. Internally always seconds.
//  - Compute rate: "Flops" (FLOP/s), with decimal prefixes ("989TFlops" = 989e12 FLOP/s).
//  - Sizes: "B" bytes (with decimal or binary prefixes), "b" bits.
// Each parser throws std::invalid_argument with a message that says what was expected and, for a
// near miss such as "40Gbs", a "did you mean".
#pragma once

#include <string>
#include <string_view>

namespace convscale::units {

double ParseBandwidth(std::string_view text);  // bytes per second
double ParseBytes(std::string_view text);      // bytes
double ParseTime(std::string_view text);       // seconds
double ParseFlopRate(std::string_view text);   // FLOP/s

// Human-readable formatting (for tables): "12.5 GB/s", "1.50 us", "25.0 MB", "989 TFLOP/s".
std::string FormatBandwidth(double bytes_per_s);
std::string FormatBytes(double bytes);
// Device memory (capacities, peaks) in binary units, as cluster files give it: "75.3 GiB".
std::string FormatMemory(double bytes);
std::string FormatTime(double seconds);
std::string FormatFlopRate(double flops_per_s);
std::string FormatCount(double count);  // 25.6M, 1.2G

}  // namespace convscale::units
