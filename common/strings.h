// Small string helpers shared by every module.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace shipmate {

std::string_view trim(std::string_view text);
std::string to_lower(std::string_view text);
bool starts_with_ci(std::string_view text, std::string_view prefix);
std::string join(const std::vector<std::string>& parts, std::string_view separator);
// The value of a hexadecimal digit (either case), or -1.
int hex_digit_value(char c);
// Standard base64 (RFC 4648, with padding): HTTP Basic credentials and the like.
std::string base64_encode(std::string_view data);
// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace shipmate
